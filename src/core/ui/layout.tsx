import type { ComponentChildren, VNode } from 'preact';
import { render } from 'preact-render-to-string';
import type { PageContext } from './context';
import { uswdsVersion, leafletVersion } from './assets';

export interface LayoutProps {
  ctx: PageContext;
  title: string;
  children: ComponentChildren;
  /** Client islands this page needs, by logical name ('map'). */
  islands?: string[];
  /** Extra stylesheets: 'leaflet' for pages with an interactive map. */
  styles?: Array<'leaflet'>;
  breadcrumbs?: Array<{ href?: string; label: string }>;
}

function withLang(url: string, locale: string): string {
  const u = new URL(url, 'http://x');
  u.searchParams.set('lang', locale);
  return u.pathname + u.search;
}

/** A whole HTML document: the page's body inside the site's layout (reply.page, and caches of its output). */
export function renderDocument(ctx: PageContext, title: string, body: VNode, layout: Omit<LayoutProps, 'ctx' | 'title' | 'children'> = {}): string {
  return '<!doctype html>' + render(<Layout ctx={ctx} title={title} {...layout}>{body}</Layout>);
}

export function Layout({ ctx, title, children, islands = [], styles = [], breadcrumbs }: LayoutProps) {
  const { t, user, config } = ctx;
  const other = ctx.locale === 'en' ? 'es-AR' : 'en';
  const uswds = `/assets/uswds-${uswdsVersion}`;
  return (
    <html lang={ctx.locale === 'en' ? 'en' : 'es-AR'}>
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · ${config.cityShortName} · Cabildo`}</title>
        <link rel="stylesheet" href={`${uswds}/css/uswds.min.css`} />
        {styles.includes('leaflet') && <link rel="stylesheet" href={`/assets/leaflet-${leafletVersion}/leaflet.css`} />}
        <link rel="stylesheet" href={ctx.assets.url('app.css')} />
        <link rel="icon" href={`${uswds}/img/favicons/favicon.ico`} />
        <script src={`${uswds}/js/uswds-init.min.js`} />
      </head>
      <body>
        <a class="usa-skipnav" href="#main-content">
          {t('site.skip')}
        </a>
        <div class="city-util">
          <div class="grid-container">
            <span>{t('site.banner', { city: config.cityName })}</span>
            <a href={withLang(ctx.url, other)} lang={other === 'en' ? 'en' : 'es-AR'} hrefLang={other}>
              {t('site.language.switch')}
            </a>
            {user ? (
              <>
                <a href="/account">{user.name || user.email}</a>
                {(user.roles.includes('admin') || user.roles.includes('official') || user.roles.includes('moderator')) && (
                  <a href="/admin">{t('site.admin')}</a>
                )}
                <form method="post" action="/signout">
                  <input type="hidden" name="_csrf" value={ctx.csrfToken} />
                  <button type="submit" class="usa-button usa-button--unstyled">
                    {t('site.signout')}
                  </button>
                </form>
              </>
            ) : (
              <>
                <a href={`/signin?next=${encodeURIComponent(ctx.url)}`}>{t('site.signin')}</a>
                <a href="/signup">{t('site.signup')}</a>
              </>
            )}
          </div>
        </div>
        <header class="usa-header usa-header--extended city-header">
          <div class="usa-navbar">
            <div class="usa-logo">
              <em class="usa-logo__text">
                <a href="/" title={t('site.home')}>
                  {config.theme.logoUrl && <img src={config.theme.logoUrl} alt="" height={32} />} {config.cityShortName} · Cabildo
                </a>
              </em>
            </div>
            <button type="button" class="usa-menu-btn">
              {t('site.menu')}
            </button>
          </div>
          <nav aria-label={t('site.menu')} class="usa-nav">
            <div class="usa-nav__inner">
              <button type="button" class="usa-nav__close">
                <img src={`${uswds}/img/usa-icons/close.svg`} role="img" alt={t('site.close')} />
              </button>
              <ul class="usa-nav__primary usa-accordion">
                {ctx.nav.map((m) => (
                  <li class="usa-nav__primary-item" key={m.name}>
                    <a class="usa-nav-link" href={m.path}>
                      <span>{t(m.titleKey)}</span>
                    </a>
                  </li>
                ))}
              </ul>
              <div class="usa-nav__secondary">
                <section aria-label={t('site.search.label')}>
                  <form class="usa-search usa-search--small" role="search" method="get" action="/search">
                    <label class="usa-sr-only" for="site-search">
                      {t('site.search.label')}
                    </label>
                    <input class="usa-input" id="site-search" type="search" name="q" />
                    <button class="usa-button" type="submit">
                      <img src={`${uswds}/img/usa-icons-bg/search--white.svg`} class="usa-search__submit-icon" alt={t('site.search.button')} />
                    </button>
                  </form>
                </section>
              </div>
            </div>
          </nav>
        </header>
        <div class="city-accent-bar" />
        <main id="main-content" class="city-main">
          {breadcrumbs && (
            <div class="grid-container">
              <nav class="usa-breadcrumb" aria-label="Breadcrumbs">
                <ol class="usa-breadcrumb__list">
                  {breadcrumbs.map((b, i) => (
                    <li class="usa-breadcrumb__list-item" key={i} aria-current={b.href ? undefined : 'page'}>
                      {b.href ? (
                        <a class="usa-breadcrumb__link" href={b.href}>
                          <span>{b.label}</span>
                        </a>
                      ) : (
                        <span>{b.label}</span>
                      )}
                    </li>
                  ))}
                </ol>
              </nav>
            </div>
          )}
          {children}
        </main>
        <footer class="city-footer">
          <div class="grid-container">
            <p>{t('site.footer.about')}</p>
            <p>
              <a href="/api/docs">{t('site.footer.api')}</a>
            </p>
          </div>
        </footer>
        <script src={`${uswds}/js/uswds.min.js`} />
        {islands.map((name) => (
          <script type="module" src={ctx.assets.url(`${name}.js`)} key={name} />
        ))}
      </body>
    </html>
  );
}

/** A standard content section with a heading: most pages are one or more of these. */
export function Section({ title, children, lead }: { title: string; lead?: string; children?: ComponentChildren }) {
  return (
    <div class="grid-container">
      <h1>{title}</h1>
      {lead && <p class="usa-intro">{lead}</p>}
      {children}
    </div>
  );
}

export function Alert({ type, children, heading }: { type: 'success' | 'error' | 'warning' | 'info'; heading?: string; children: ComponentChildren }) {
  return (
    <div class={`usa-alert usa-alert--${type}`} role={type === 'error' ? 'alert' : 'status'}>
      <div class="usa-alert__body">
        {heading && <h2 class="usa-alert__heading">{heading}</h2>}
        <p class="usa-alert__text">{children}</p>
      </div>
    </div>
  );
}

export function CsrfField({ ctx }: { ctx: PageContext }) {
  return <input type="hidden" name="_csrf" value={ctx.csrfToken} />;
}

/** Label, hint and error message around a form control, the USWDS way; ids follow the field's name. */
function FormGroup(props: { name: string; label: string; error?: string; hint?: string; children: (a11y: Record<string, unknown>) => ComponentChildren }) {
  const id = `f-${props.name}`;
  const describedBy = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`usa-form-group${props.error ? ' usa-form-group--error' : ''}`}>
      <label class={`usa-label${props.error ? ' usa-label--error' : ''}`} for={id}>
        {props.label}
      </label>
      {props.hint && (
        <div class="usa-hint" id={`${id}-hint`}>
          {props.hint}
        </div>
      )}
      {props.error && (
        <span class="usa-error-message" id={`${id}-error`} role="alert">
          {props.error}
        </span>
      )}
      {props.children({ id, name: props.name, 'aria-describedby': describedBy, 'aria-invalid': props.error ? true : undefined })}
    </div>
  );
}

/** A labelled text input (or textarea) with its hint and error message. */
export function Field(props: {
  name: string;
  label: string;
  type?: string;
  value?: string | number | null;
  error?: string;
  hint?: string;
  required?: boolean;
  autocomplete?: string;
  multiline?: boolean;
  attrs?: Record<string, string | number | boolean>;
}) {
  return (
    <FormGroup name={props.name} label={props.label} error={props.error} hint={props.hint}>
      {(a11y) => {
        const common = { ...a11y, required: props.required, ...props.attrs };
        return props.multiline ? (
          <textarea class={`usa-textarea${props.error ? ' usa-input--error' : ''}`} {...common}>
            {props.value ?? ''}
          </textarea>
        ) : (
          <input
            class={`usa-input${props.error ? ' usa-input--error' : ''}`}
            type={props.type ?? 'text'}
            value={props.value ?? ''}
            autoComplete={props.autocomplete}
            {...common}
          />
        );
      }}
    </FormGroup>
  );
}

/** A labelled select with its hint and error message. */
export function SelectField(props: {
  name: string;
  label: string;
  value: string;
  options: Array<{ value: string; label: string }>;
  error?: string;
  hint?: string;
}) {
  return (
    <FormGroup name={props.name} label={props.label} error={props.error} hint={props.hint}>
      {(a11y) => (
        <select class="usa-select" {...a11y}>
          {props.options.map((o) => (
            <option value={o.value} selected={o.value === props.value} key={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </FormGroup>
  );
}

export function Pagination({ ctx, page, pages, href }: { ctx: PageContext; page: number; pages: number; href: (p: number) => string }) {
  if (pages <= 1) return null;
  return (
    <nav aria-label={ctx.t('common.page', { page, pages })} class="usa-pagination">
      <ul class="usa-pagination__list">
        {page > 1 && (
          <li class="usa-pagination__item usa-pagination__arrow">
            <a href={href(page - 1)} class="usa-pagination__link usa-pagination__previous-page">
              <span class="usa-pagination__link-text">{ctx.t('common.previous')}</span>
            </a>
          </li>
        )}
        <li class="usa-pagination__item usa-pagination__page-no">
          <span class="usa-pagination__button usa-current" aria-current="page">
            {ctx.t('common.page', { page, pages })}
          </span>
        </li>
        {page < pages && (
          <li class="usa-pagination__item usa-pagination__arrow">
            <a href={href(page + 1)} class="usa-pagination__link usa-pagination__next-page">
              <span class="usa-pagination__link-text">{ctx.t('common.next')}</span>
            </a>
          </li>
        )}
      </ul>
    </nav>
  );
}
