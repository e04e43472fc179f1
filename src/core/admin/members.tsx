import { CsrfField, Field, SelectField } from '../ui/layout';
import type { OfficeRole } from '../db/schema';
import type { PageContext } from '../ui/context';

export interface Member {
  user_id: number;
  email: string;
  name: string;
  roles: string[];
  created_at: Date;
  /** Offices only: what the member may do for the office. */
  role?: OfficeRole;
}

const OFFICE_ROLES: OfficeRole[] = ['editor', 'admin'];

/**
 * Members of an office or representatives of an organisation: list, remove, add by email; for an
 * office (`roles`), each member's role too: editor, or administrator who approves what it publishes.
 */
export function MembersSection(props: { ctx: PageContext; base: string; members: Member[]; error?: string; email?: string; heading: string; showOfficialHint?: boolean; roles?: boolean }) {
  const { ctx, base, members } = props;
  const { t, fmt } = ctx;
  return (
    <section aria-labelledby="members-heading">
      <h2 id="members-heading">{props.heading}</h2>
      {members.length === 0 ? (
        <p>{t('admin.members.none')}</p>
      ) : (
        <table class="usa-table usa-table--borderless">
          <caption>{t('admin.members.caption', { count: members.length })}</caption>
          <thead>
            <tr>
              <th scope="col">{t('admin.users.email')}</th>
              <th scope="col">{t('admin.users.name')}</th>
              {props.roles && <th scope="col">{t('admin.members.role')}</th>}
              <th scope="col">{t('admin.members.since')}</th>
              <th scope="col">{t('admin.members.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <tr key={m.user_id}>
                <th scope="row">
                  <a href={`/admin/users/${m.user_id}`}>{m.email}</a>
                  {props.showOfficialHint && !m.roles.includes('official') && !m.roles.includes('admin') && (
                    <>
                      {' '}
                      <span class="usa-tag">{t('admin.members.notOfficial')}</span>
                    </>
                  )}
                </th>
                <td>{m.name}</td>
                {props.roles && (
                  <td>
                    <form method="post" action={`${base}/members/${m.user_id}/role`} class="city-inline-form">
                      <CsrfField ctx={ctx} />
                      <label class="usa-sr-only" for={`role-${m.user_id}`}>
                        {t('admin.members.roleOf', { email: m.email })}
                      </label>
                      <select class="usa-select" id={`role-${m.user_id}`} name="role">
                        {OFFICE_ROLES.map((r) => (
                          <option key={r} value={r} selected={m.role === r}>
                            {t(`admin.members.role.${r}`)}
                          </option>
                        ))}
                      </select>
                      <button class="usa-button usa-button--outline" type="submit">
                        {t('admin.members.roleSave')}
                      </button>
                    </form>
                  </td>
                )}
                <td>{fmt.date(m.created_at)}</td>
                <td>
                  <form method="post" action={`${base}/members/${m.user_id}/remove`}>
                    <CsrfField ctx={ctx} />
                    <button class="usa-button usa-button--unstyled" type="submit" aria-label={t('admin.members.removeWho', { email: m.email })}>
                      {t('admin.members.remove')}
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form method="post" action={`${base}/members`} class="usa-form">
        <CsrfField ctx={ctx} />
        <Field name="member_email" label={t('admin.members.addEmail')} type="email" value={props.email} error={props.error} required autocomplete="off" />
        {props.roles && <SelectField name="role" label={t('admin.members.role')} value="editor" options={OFFICE_ROLES.map((r) => ({ value: r, label: t(`admin.members.role.${r}`) }))} />}
        <button class="usa-button" type="submit">
          {t('admin.members.add')}
        </button>
      </form>
    </section>
  );
}
