import { CsrfField, Field } from '../ui/layout';
import type { PageContext } from '../ui/context';

export interface Member {
  user_id: number;
  email: string;
  name: string;
  roles: string[];
  created_at: Date;
}

/** Members of an office or representatives of an organisation: list, remove, add by email. */
export function MembersSection(props: { ctx: PageContext; base: string; members: Member[]; error?: string; email?: string; heading: string; showOfficialHint?: boolean }) {
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
        <button class="usa-button" type="submit">
          {t('admin.members.add')}
        </button>
      </form>
    </section>
  );
}
