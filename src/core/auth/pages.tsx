import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { Alert, CsrfField, Field, Section } from '../ui/layout';
import type { PageContext } from '../ui/context';
import { HttpError } from '../http/guards';
import { LANG_COOKIE } from '../http';
import { isLocale } from '../i18n';
import { destroySession, SESSION_COOKIE } from './session';
import { hashPassword, passwordProblem, verifyPassword, PASSWORD_MIN } from './password';
import { consumeEmailToken, peekEmailToken } from './tokens';
import { formReader, isEmail, normaliseEmail, queryString, safeNext, sendConfirmation, sendReset, startSession } from './helpers';
import { accountPages } from './account';
import { censusAdminPages } from './census-admin';
import { oidcPages } from './oidc';

type Errors = Record<string, string | undefined>;

const perIp = (max: number) => ({ rateLimit: { max, timeWindow: '1 minute' } });

function ErrorSummary({ ctx, errors }: { ctx: PageContext; errors: Errors }) {
  const list = Object.values(errors).filter(Boolean);
  if (!list.length) return null;
  return <Alert type="error" heading={ctx.t('auth.form.errors')}>{list.join(' ')}</Alert>;
}

function SignUpForm({ ctx, values, errors }: { ctx: PageContext; values: Record<string, string>; errors: Errors }) {
  const t = ctx.t;
  return (
    <Section title={t('auth.signup.title')} lead={t('auth.signup.lead')}>
      <ErrorSummary ctx={ctx} errors={errors} />
      <form class="usa-form usa-form--large" method="post" action="/signup" novalidate>
        <CsrfField ctx={ctx} />
        <Field name="email" type="email" label={t('auth.field.email')} value={values.email} error={errors.email} required autocomplete="email" />
        <Field name="name" label={t('auth.field.name')} hint={t('auth.field.name.hint')} value={values.name} error={errors.name} required autocomplete="name" />
        <Field name="password" type="password" label={t('auth.field.password')} hint={t('auth.field.password.hint', { min: PASSWORD_MIN })} error={errors.password} required autocomplete="new-password" />
        <Field name="confirm" type="password" label={t('auth.field.confirm')} error={errors.confirm} required autocomplete="new-password" />
        <button class="usa-button" type="submit">
          {t('auth.signup.submit')}
        </button>
      </form>
      <p>
        {t('auth.signup.haveAccount')} <a href="/signin">{t('auth.signin.title')}</a>
      </p>
    </Section>
  );
}

function SignInForm({ ctx, email, next, error, notice }: { ctx: PageContext; email?: string; next: string; error?: string; notice?: string }) {
  const t = ctx.t;
  const oidc = ctx.config.oidc;
  return (
    <Section title={t('auth.signin.title')}>
      {notice && <Alert type="success">{notice}</Alert>}
      {error && <Alert type="error">{error}</Alert>}
      <form class="usa-form" method="post" action="/signin">
        <CsrfField ctx={ctx} />
        <input type="hidden" name="next" value={next} />
        <Field name="email" type="email" label={t('auth.field.email')} value={email} required autocomplete="username" />
        <Field name="password" type="password" label={t('auth.field.password')} required autocomplete="current-password" />
        <button class="usa-button" type="submit">
          {t('auth.signin.submit')}
        </button>
      </form>
      {oidc && (
        <p>
          <a class="usa-button usa-button--outline" href={`/signin/oidc?next=${encodeURIComponent(next)}`}>
            {t('auth.oidc.button', { provider: oidc.label })}
          </a>
        </p>
      )}
      <p>
        <a href="/forgot">{t('auth.forgot.link')}</a>
      </p>
      <p>
        {t('auth.signin.noAccount')} <a href="/signup">{t('auth.signup.title')}</a>
      </p>
    </Section>
  );
}

function ResetForm({ ctx, token, error }: { ctx: PageContext; token: string; error?: string }) {
  const t = ctx.t;
  return (
    <Section title={t('auth.reset.title')}>
      <form class="usa-form" method="post" action={`/reset/${encodeURIComponent(token)}`}>
        <CsrfField ctx={ctx} />
        <Field name="password" type="password" label={t('auth.field.newPassword')} hint={t('auth.field.password.hint', { min: PASSWORD_MIN })} error={error} required autocomplete="new-password" />
        <Field name="confirm" type="password" label={t('auth.field.confirm')} required autocomplete="new-password" />
        <button class="usa-button" type="submit">
          {t('auth.reset.submit')}
        </button>
      </form>
    </Section>
  );
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === '23505';
}

/** Sign-up, sign-in, sign-out, email confirmation and password reset; then the account, census and OIDC pages. */
export async function authPages(app: FastifyInstance): Promise<void> {
  const { services } = app;
  const { db } = services;

  app.get('/signup', async (request, reply) => {
    if (request.user) return reply.redirect('/account', 303);
    return reply.page(request.t('auth.signup.title'), <SignUpForm ctx={request.pageContext()} values={{}} errors={{}} />);
  });

  app.post('/signup', { config: perIp(10) }, async (request, reply) => {
    const f = formReader(request);
    const t = request.t;
    const values = { email: normaliseEmail(f('email')), name: f('name').trim() };
    const errors: Errors = {};
    if (!isEmail(values.email)) errors.email = t('auth.error.email');
    if (!values.name) errors.name = t('auth.error.name');
    else if (values.name.length > 120) errors.name = t('auth.error.nameLong');
    const pw = passwordProblem(f('password'), f('confirm'));
    if (pw) errors[pw === 'auth.password.mismatch' ? 'confirm' : 'password'] = t(pw);
    const taken = () => (errors.email = t('auth.error.emailTaken'));
    if (!errors.email) {
      const existing = await db.selectFrom('users').select('id').where(sql`lower(email)`, '=', values.email).executeTakeFirst();
      if (existing) taken();
    }
    const again = (status = 400) => reply.page(t('auth.signup.title'), <SignUpForm ctx={request.pageContext()} values={values} errors={errors} />, { status });
    if (Object.values(errors).some(Boolean)) return again();

    const passwordHash = await hashPassword(f('password'));
    try {
      const user = await db.transaction().execute(async (trx) => {
        const u = await trx
          .insertInto('users')
          .values({ email: values.email, name: values.name, password_hash: passwordHash, locale: request.locale })
          .returning(['id', 'email', 'name'])
          .executeTakeFirstOrThrow();
        await sendConfirmation(services, u, request.locale, trx);
        return u;
      });
      await startSession(services, request, reply, user.id);
    } catch (err) {
      // Two sign-ups with one address at the same moment: the unique index decides.
      if (!isUniqueViolation(err)) throw err;
      taken();
      return again();
    }
    return reply.redirect('/account?welcome=1', 303);
  });

  app.get('/confirm/:token', async (request, reply) => {
    const { token } = request.params as { token: string };
    const userId = await consumeEmailToken(db, token, 'confirm');
    const t = request.t;
    if (!userId) {
      return reply.page(
        t('auth.confirm.title'),
        <Section title={t('auth.confirm.title')}>
          <Alert type="error">{t('auth.confirm.invalid')}</Alert>
          <p>
            <a href="/account">{t('auth.confirm.resendHint')}</a>
          </p>
        </Section>,
        { status: 400 },
      );
    }
    await db.updateTable('users').set({ email_confirmed_at: new Date() }).where('id', '=', userId).where('email_confirmed_at', 'is', null).execute();
    return reply.page(
      t('auth.confirm.title'),
      <Section title={t('auth.confirm.title')}>
        <Alert type="success">{t('auth.confirm.done')}</Alert>
        <p>
          <a class="usa-button" href={request.user ? '/account' : '/signin'}>
            {request.user ? t('auth.account.title') : t('auth.signin.title')}
          </a>
        </p>
      </Section>,
    );
  });

  app.get('/signin', async (request, reply) => {
    const next = safeNext(queryString(request, 'next'));
    if (request.user) return reply.redirect(next, 303);
    const notice = queryString(request, 'reset') === '1' ? request.t('auth.reset.done') : undefined;
    return reply.page(request.t('auth.signin.title'), <SignInForm ctx={request.pageContext()} next={next} notice={notice} />);
  });

  app.post(
    '/signin',
    {
      config: {
        rateLimit: {
          max: 10,
          timeWindow: '1 minute',
          // After the body is parsed, so that the key can name the account being tried.
          hook: 'preHandler',
          keyGenerator: (request: FastifyRequest) => `${request.ip}|${normaliseEmail(formReader(request)('email'))}`,
        },
      },
    },
    async (request, reply) => {
      const f = formReader(request);
      const email = normaliseEmail(f('email'));
      const next = safeNext(f('next'));
      const user = email
        ? await db.selectFrom('users').select(['id', 'password_hash', 'disabled_at', 'locale']).where(sql`lower(email)`, '=', email).executeTakeFirst()
        : undefined;
      const ok = await verifyPassword(user?.password_hash, f('password'));
      const refuse = (key: string) =>
        reply.page(request.t('auth.signin.title'), <SignInForm ctx={request.pageContext()} email={email} next={next} error={request.t(key)} />, { status: 401 });
      if (!user || !ok) return refuse('auth.signin.invalid');
      if (user.disabled_at) return refuse('auth.signin.disabled');
      await startSession(services, request, reply, user.id);
      // The language chosen in the profile follows the resident to any browser they sign in on.
      if (isLocale(user.locale)) reply.setCookie(LANG_COOKIE, user.locale, { path: '/', maxAge: 365 * 86400, sameSite: 'lax', secure: services.config.secureCookies });
      return reply.redirect(next, 303);
    },
  );

  app.post('/signout', async (request, reply) => {
    const sid = request.cookies[SESSION_COOKIE];
    if (sid) await destroySession(db, sid);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/', 303);
  });

  app.get('/forgot', async (request, reply) => {
    const t = request.t;
    return reply.page(
      t('auth.forgot.title'),
      <Section title={t('auth.forgot.title')} lead={t('auth.forgot.lead')}>
        <form class="usa-form" method="post" action="/forgot">
          <CsrfField ctx={request.pageContext()} />
          <Field name="email" type="email" label={t('auth.field.email')} required autocomplete="email" />
          <button class="usa-button" type="submit">
            {t('auth.forgot.submit')}
          </button>
        </form>
      </Section>,
    );
  });

  app.post('/forgot', { config: perIp(5) }, async (request, reply) => {
    const email = normaliseEmail(formReader(request)('email'));
    const t = request.t;
    if (isEmail(email)) {
      const user = await db
        .selectFrom('users')
        .select(['id', 'email', 'name', 'locale'])
        .where(sql`lower(email)`, '=', email)
        .where('disabled_at', 'is', null)
        .executeTakeFirst();
      if (user) await sendReset(services, user, request.locale);
    }
    // The same answer whether or not the address has an account.
    return reply.page(
      t('auth.forgot.title'),
      <Section title={t('auth.forgot.title')}>
        <Alert type="info">{t('auth.forgot.sent')}</Alert>
      </Section>,
    );
  });

  const invalidReset = (): never => {
    throw new HttpError(400, 'This reset link is invalid, used or expired', 'auth.reset.invalid');
  };

  app.get('/reset/:token', async (request, reply) => {
    const { token } = request.params as { token: string };
    if (!(await peekEmailToken(db, token, 'reset'))) return invalidReset();
    return reply.page(request.t('auth.reset.title'), <ResetForm ctx={request.pageContext()} token={token} />);
  });

  app.post('/reset/:token', { config: perIp(10) }, async (request, reply) => {
    const { token } = request.params as { token: string };
    const f = formReader(request);
    if (!(await peekEmailToken(db, token, 'reset'))) return invalidReset();
    const problem = passwordProblem(f('password'), f('confirm'));
    if (problem) {
      return reply.page(request.t('auth.reset.title'), <ResetForm ctx={request.pageContext()} token={token} error={request.t(problem)} />, { status: 400 });
    }
    const passwordHash = await hashPassword(f('password'));
    const done = await db.transaction().execute(async (trx) => {
      const userId = await consumeEmailToken(trx, token, 'reset');
      if (!userId) return false;
      // Whoever held the account's sessions (perhaps the reason for the reset) is out.
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      const u = await trx
        .updateTable('users')
        .set({ password_hash: passwordHash, email_confirmed_at: sql`coalesce(email_confirmed_at, now())` })
        .where('id', '=', userId)
        .returning(['id', 'email'])
        .executeTakeFirstOrThrow();
      await services.audit.record({ id: u.id, email: u.email, ip: request.ip }, { action: 'user.password.reset', subjectType: 'user', subjectId: u.id }, trx);
      return true;
    });
    if (!done) return invalidReset();
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/signin?reset=1', 303);
  });

  await app.register(accountPages);
  await app.register(censusAdminPages);
  await app.register(oidcPages);
}
