import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Alert, CsrfField, Field, Section, SelectField } from '../ui/layout';
import type { PageContext } from '../ui/context';
import { HttpError, requireUser } from '../http/guards';
import { LANG_COOKIE } from '../http';
import { isLocale } from '../i18n';
import { sha256, SESSION_COOKIE } from './session';
import { hashPassword, passwordProblem, verifyPassword, PASSWORD_MIN } from './password';
import { formReader, queryString, sendConfirmation } from './helpers';
import { CensusUnavailableError, isDocumentNumber, parseBirthDate } from './census';
import { failedAttempts, verifyResidency } from './verify';

type Errors = Record<string, string | undefined>;

export const GENDERS = ['female', 'male', 'other'] as const;

interface Profile {
  id: number;
  email: string;
  name: string;
  locale: string;
  gender: string | null;
  birth_year: number | null;
  email_confirmed_at: Date | null;
  verified_at: Date | null;
  commune_id: number | null;
  commune_name: string | null;
  password_hash: string | null;
}


export function communeLabel(ctx: PageContext, id: number, name: string | null) {
  return name ?? ctx.t('auth.commune', { n: id });
}

function UnconfirmedNotice({ ctx }: { ctx: PageContext }) {
  return (
    <div class="usa-alert usa-alert--warning" role="status">
      <div class="usa-alert__body">
        <h2 class="usa-alert__heading">{ctx.t('auth.unconfirmed.heading')}</h2>
        <p class="usa-alert__text">{ctx.t('auth.unconfirmed.text', { email: ctx.user?.email ?? '' })}</p>
        <form method="post" action="/account/confirm/resend">
          <CsrfField ctx={ctx} />
          <button class="usa-button usa-button--outline" type="submit">
            {ctx.t('auth.unconfirmed.resend')}
          </button>
        </form>
      </div>
    </div>
  );
}

function AccountPage({ ctx, p, notice, errors, values }: { ctx: PageContext; p: Profile; notice?: string; errors: Errors; values?: Record<string, string> }) {
  const t = ctx.t;
  const v = values ?? { name: p.name, locale: p.locale, gender: p.gender ?? '', birth_year: p.birth_year == null ? '' : String(p.birth_year) };
  return (
    <Section title={t('auth.account.title')}>
      {notice && <Alert type="success">{notice}</Alert>}
      {!p.email_confirmed_at && <UnconfirmedNotice ctx={ctx} />}

      <h2>{t('auth.account.residency')}</h2>
      {p.verified_at && p.commune_id ? (
        <p>{t('auth.account.verified', { commune: communeLabel(ctx, p.commune_id, p.commune_name), date: ctx.fmt.date(p.verified_at) })}</p>
      ) : (
        <>
          <p>{t('auth.account.notVerified')}</p>
          <p>
            <a class="usa-button" href="/account/verify">
              {t('auth.verify.title')}
            </a>
          </p>
        </>
      )}

      <h2>{t('auth.account.profile')}</h2>
      <form class="usa-form usa-form--large" method="post" action="/account/profile">
        <CsrfField ctx={ctx} />
        <p>
          {t('auth.field.email')}: <strong>{p.email}</strong>
        </p>
        <Field name="name" label={t('auth.field.name')} value={v.name} error={errors.name} required autocomplete="name" />
        <SelectField
          name="locale"
          label={t('auth.field.locale')}
          value={v.locale}
          options={[
            { value: 'es-AR', label: 'Español (Argentina)' },
            { value: 'en', label: 'English' },
          ]}
        />
        <SelectField
          name="gender"
          label={t('auth.field.gender')}
          hint={t('auth.field.stats.hint')}
          value={v.gender}
          error={errors.gender}
          options={[{ value: '', label: t('auth.gender.none') }, ...GENDERS.map((g) => ({ value: g, label: t(`auth.gender.${g}`) }))]}
        />
        <Field
          name="birth_year"
          type="number"
          label={t('auth.field.birthYear')}
          hint={t('auth.field.stats.hint')}
          value={v.birth_year}
          error={errors.birth_year}
          attrs={{ min: 1900, max: new Date().getFullYear(), inputmode: 'numeric' }}
        />
        <button class="usa-button" type="submit">
          {t('auth.account.save')}
        </button>
      </form>

      <h2>{t('auth.account.password')}</h2>
      {p.password_hash ? (
        <form class="usa-form" method="post" action="/account/password">
          <CsrfField ctx={ctx} />
          <Field name="current" type="password" label={t('auth.field.currentPassword')} error={errors.current} required autocomplete="current-password" />
          <Field name="password" type="password" label={t('auth.field.newPassword')} hint={t('auth.field.password.hint', { min: PASSWORD_MIN })} error={errors.password} required autocomplete="new-password" />
          <Field name="confirm" type="password" label={t('auth.field.confirm')} required autocomplete="new-password" />
          <button class="usa-button" type="submit">
            {t('auth.account.changePassword')}
          </button>
        </form>
      ) : (
        <p>
          {t('auth.account.noPassword')} <a href="/forgot">{t('auth.forgot.link')}</a>
        </p>
      )}
    </Section>
  );
}

function VerifyPage({ ctx, attemptsLeft, values, errors, failure }: { ctx: PageContext; attemptsLeft: number; values: Record<string, string>; errors: Errors; failure?: string }) {
  const t = ctx.t;
  return (
    <Section title={t('auth.verify.title')} lead={t('auth.verify.lead')}>
      {!ctx.user?.emailConfirmed && <UnconfirmedNotice ctx={ctx} />}
      {failure && <Alert type="error">{failure}</Alert>}
      {attemptsLeft > 0 ? (
        <>
          <p>{t('auth.verify.attemptsLeft', { n: attemptsLeft })}</p>
          <form class="usa-form" method="post" action="/account/verify">
            <CsrfField ctx={ctx} />
            <Field name="document" label={t('auth.field.document')} hint={t('auth.field.document.hint')} value={values.document} error={errors.document} required attrs={{ inputmode: 'numeric' }} />
            <Field name="birth_date" type="date" label={t('auth.field.birthDate')} hint={t('auth.field.birthDate.hint')} value={values.birth_date} error={errors.birth_date} required autocomplete="bday" />
            <button class="usa-button" type="submit">
              {t('auth.verify.submit')}
            </button>
          </form>
          <p class="usa-hint">{t('auth.verify.privacy')}</p>
        </>
      ) : (
        <Alert type="warning">{t('auth.verify.exhausted')}</Alert>
      )}
    </Section>
  );
}

/** The signed-in resident's own pages: profile, password, email confirmation, residency verification. */
export async function accountPages(app: FastifyInstance): Promise<void> {
  const { services } = app;
  const { db } = services;
  app.addHook('preHandler', requireUser);

  const profile = async (request: FastifyRequest): Promise<Profile> =>
    db
      .selectFrom('users')
      .leftJoin('communes', 'communes.id', 'users.commune_id')
      .select([
        'users.id', 'users.email', 'users.name', 'users.locale', 'users.gender', 'users.birth_year', 'users.email_confirmed_at',
        'users.verified_at', 'users.commune_id', 'communes.name as commune_name', 'users.password_hash',
      ])
      .where('users.id', '=', request.user!.id)
      .executeTakeFirstOrThrow();

  const notices: Record<string, string> = {
    welcome: 'auth.account.welcome',
    profile: 'auth.account.saved',
    password: 'auth.account.passwordChanged',
    sent: 'auth.unconfirmed.sent',
    verified: 'auth.verify.done',
  };

  app.get('/account', async (request, reply) => {
    const key = Object.keys(notices).find((k) => queryString(request, k) === '1');
    return reply.page(request.t('auth.account.title'), <AccountPage ctx={request.pageContext()} p={await profile(request)} notice={key ? request.t(notices[key]) : undefined} errors={{}} />);
  });

  app.post('/account/profile', async (request, reply) => {
    const f = formReader(request);
    const t = request.t;
    const values = { name: f('name').trim(), locale: f('locale'), gender: f('gender'), birth_year: f('birth_year').trim() };
    const errors: Errors = {};
    if (!values.name) errors.name = t('auth.error.name');
    else if (values.name.length > 120) errors.name = t('auth.error.nameLong');
    if (!isLocale(values.locale)) values.locale = request.locale;
    if (values.gender && !(GENDERS as readonly string[]).includes(values.gender)) errors.gender = t('auth.error.gender');
    const year = Number(values.birth_year);
    if (values.birth_year && (!/^\d{4}$/.test(values.birth_year) || year < 1900 || year > new Date().getFullYear())) errors.birth_year = t('auth.error.birthYear');
    if (Object.values(errors).some(Boolean)) {
      return reply.page(t('auth.account.title'), <AccountPage ctx={request.pageContext()} p={await profile(request)} values={values} errors={errors} />, { status: 400 });
    }
    await db
      .updateTable('users')
      .set({ name: values.name, locale: values.locale, gender: values.gender || null, birth_year: values.birth_year ? year : null })
      .where('id', '=', request.user!.id)
      .execute();
    // The language chosen in the profile is the language of the site from now on.
    reply.setCookie(LANG_COOKIE, values.locale, { path: '/', maxAge: 365 * 86400, sameSite: 'lax', secure: services.config.secureCookies });
    return reply.redirect('/account?profile=1', 303);
  });

  app.post('/account/password', { config: { rateLimit: { max: 10, timeWindow: '1 minute' } } }, async (request, reply) => {
    const f = formReader(request);
    const t = request.t;
    const p = await profile(request);
    const errors: Errors = {};
    if (!(await verifyPassword(p.password_hash, f('current')))) errors.current = t('auth.error.currentPassword');
    const problem = passwordProblem(f('password'), f('confirm'));
    if (problem) errors.password = t(problem);
    if (errors.current || errors.password) {
      return reply.page(t('auth.account.title'), <AccountPage ctx={request.pageContext()} p={p} errors={errors} />, { status: 400 });
    }
    const passwordHash = await hashPassword(f('password'));
    const sid = request.cookies[SESSION_COOKIE] ?? '';
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', p.id).execute();
      // Other browsers signed in with the old password are signed out; this one stays.
      await trx.deleteFrom('sessions').where('user_id', '=', p.id).where('id', '<>', sha256(sid)).execute();
      await services.audit.record(request.actor(), { action: 'user.password', subjectType: 'user', subjectId: p.id }, trx);
    });
    return reply.redirect('/account?password=1', 303);
  });

  app.post('/account/confirm/resend', { config: { rateLimit: { max: 3, timeWindow: '1 minute' } } }, async (request, reply) => {
    const p = await profile(request);
    if (!p.email_confirmed_at) await sendConfirmation(services, p, request.locale);
    return reply.redirect('/account?sent=1', 303);
  });

  const attemptsLeft = async (userId: number) => Math.max(0, services.config.verificationAttempts - (await failedAttempts(services, userId)));

  app.get('/account/verify', async (request, reply) => {
    if (request.user!.verified) return reply.redirect('/account', 303);
    return reply.page(request.t('auth.verify.title'), <VerifyPage ctx={request.pageContext()} attemptsLeft={await attemptsLeft(request.user!.id)} values={{}} errors={{}} />);
  });

  app.post('/account/verify', { config: { rateLimit: { max: 10, timeWindow: '1 minute' } } }, async (request, reply) => {
    const t = request.t;
    const user = request.user!;
    if (user.verified) return reply.redirect('/account', 303);
    const f = formReader(request);
    const values = { document: f('document').trim(), birth_date: f('birth_date').trim() };
    const errors: Errors = {};
    if (!isDocumentNumber(values.document)) errors.document = t('auth.error.document');
    const dob = parseBirthDate(values.birth_date);
    if (!dob) errors.birth_date = t('auth.error.birthDate');
    const again = async (status: number, failure?: string, left?: number) =>
      reply.page(
        t('auth.verify.title'),
        <VerifyPage ctx={request.pageContext()} attemptsLeft={left ?? (await attemptsLeft(user.id))} values={values} errors={errors} failure={failure} />,
        { status },
      );
    // A date input shows only ISO dates: give it back the date in the form it understands.
    if (dob) values.birth_date = dob;
    if (errors.document || errors.birth_date) return again(400);
    let outcome;
    try {
      outcome = await verifyResidency(services, { ...request.actor(), id: user.id }, { documentNumber: values.document, dateOfBirth: dob! });
    } catch (err) {
      if (err instanceof CensusUnavailableError) {
        request.log.warn({ err: err.message }, 'census unavailable');
        throw new HttpError(503, 'The census service is unavailable; please try again later', 'auth.verify.unavailable');
      }
      throw err;
    }
    if (outcome.ok) return reply.redirect('/account?verified=1', 303);
    if (outcome.reason === 'exhausted') return again(429, undefined, 0);
    const failure = t(outcome.reason === 'documentUsed' ? 'auth.verify.documentUsed' : 'auth.verify.notFound');
    return again(outcome.reason === 'documentUsed' ? 409 : 400, failure, outcome.attemptsLeft);
  });
}
