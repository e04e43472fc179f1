import { sql } from 'kysely';
import type { Services } from '../services';
import type { Actor } from '../audit';
import { censusConnector, censusHash, type CensusConnector } from './census';

export type VerifyOutcome =
  | { ok: true; communeId: number }
  | { ok: false; reason: 'notFound' | 'documentUsed'; attemptsLeft: number }
  | { ok: false; reason: 'exhausted'; attemptsLeft: 0 };

const DAY_MS = 86400_000;

/** Failed verification attempts of an account in the last 24 hours. */
export async function failedAttempts(services: Services, userId: number): Promise<number> {
  const row = await services.db
    .selectFrom('verification_attempts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('success', '=', false)
    .where('at', '>', new Date(Date.now() - DAY_MS))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Another account, still verified, that verified with this document (known only by its keyed hash). */
async function documentHolder(services: Services, documentHash: string, userId: number): Promise<number | null> {
  const row = await services.db
    .selectFrom('users')
    .select('id')
    .where('document_hash', '=', documentHash)
    .where('id', '<>', userId)
    .where('verified_at', 'is not', null)
    .executeTakeFirst();
  return row?.id ?? null;
}

const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === '23505';

/**
 * Checks a resident's document and date of birth against the census, the CONSUL way. A failed
 * check counts against the account's daily allowance; a census service that does not answer
 * throws CensusUnavailableError and counts nothing.
 */
export async function verifyResidency(
  services: Services,
  actor: Actor & { id: number },
  input: { documentNumber: string; dateOfBirth: string },
  connector: CensusConnector = censusConnector(services),
): Promise<VerifyOutcome> {
  const limit = services.config.verificationAttempts;
  const failed = await failedAttempts(services, actor.id);
  if (failed >= limit) return { ok: false, reason: 'exhausted', attemptsLeft: 0 };

  const fail = async (reason: 'notFound' | 'documentUsed'): Promise<VerifyOutcome> => {
    await services.db.insertInto('verification_attempts').values({ user_id: actor.id, ip: actor.ip, success: false }).execute();
    return { ok: false, reason, attemptsLeft: Math.max(0, limit - failed - 1) };
  };

  const entry = await connector.lookup(input.documentNumber, input.dateOfBirth);
  if (!entry) return fail('notFound');
  const documentHash = censusHash(services.secret, input.documentNumber);
  if ((await documentHolder(services, documentHash, actor.id)) != null) return fail('documentUsed');

  try {
    await services.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({
          verified_at: new Date(),
          commune_id: entry.communeId,
          document_hash: documentHash,
          // What the resident chose to tell in the profile stays; the census only fills a blank.
          gender: sql<string | null>`coalesce(gender, ${entry.gender ?? null})`,
        })
        .where('id', '=', actor.id)
        .execute();
      await trx.insertInto('verification_attempts').values({ user_id: actor.id, ip: actor.ip, success: true }).execute();
      await services.audit.record(
        actor,
        { action: 'user.verify', subjectType: 'user', subjectId: actor.id, details: { communeId: entry.communeId, documentHash } },
        trx,
      );
    });
  } catch (err) {
    // Two accounts verifying with one document at the same moment: the unique index decides.
    if (isUniqueViolation(err)) return fail('documentUsed');
    throw err;
  }
  return { ok: true, communeId: entry.communeId };
}
