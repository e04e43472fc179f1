import type { Kysely } from 'kysely';
import type { CoreTables } from '../db/schema';
import { randomToken, sha256 } from './session';

export type EmailTokenPurpose = 'confirm' | 'reset';

/** Confirmation links live two days; reset links one hour, as a reset link is a key to the account. */
export const EMAIL_TOKEN_TTL_MS: Record<EmailTokenPurpose, number> = { confirm: 48 * 3600_000, reset: 3600_000 };

/** Issues a single-use link token (only its hash is stored); an older unused one of the same purpose stops working. */
export async function issueEmailToken(db: Kysely<CoreTables>, userId: number, purpose: EmailTokenPurpose): Promise<string> {
  const token = randomToken();
  await db
    .updateTable('email_tokens')
    .set({ used_at: new Date() })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .execute();
  await db
    .insertInto('email_tokens')
    .values({ id: sha256(token), user_id: userId, purpose, expires_at: new Date(Date.now() + EMAIL_TOKEN_TTL_MS[purpose]) })
    .execute();
  return token;
}

/** The account a still-valid token belongs to, without using it up (the reset form's GET). */
export async function peekEmailToken(db: Kysely<CoreTables>, token: string, purpose: EmailTokenPurpose): Promise<number | null> {
  const row = await db
    .selectFrom('email_tokens')
    .select('user_id')
    .where('id', '=', sha256(token))
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', new Date())
    .executeTakeFirst();
  return row?.user_id ?? null;
}

/** Uses a token up: one UPDATE, so two concurrent uses cannot both succeed. */
export async function consumeEmailToken(db: Kysely<CoreTables>, token: string, purpose: EmailTokenPurpose): Promise<number | null> {
  const row = await db
    .updateTable('email_tokens')
    .set({ used_at: new Date() })
    .where('id', '=', sha256(token))
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', new Date())
    .returning('user_id')
    .executeTakeFirst();
  return row?.user_id ?? null;
}
