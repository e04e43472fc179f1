import type { Kysely } from 'kysely';
import type { CoreTables } from '../db/schema';

export interface Actor {
  id: number | null;
  email: string | null;
  ip: string | null;
}

export interface AuditEntry {
  action: string; // verb.noun, e.g. 'office.create', 'user.roles'
  subjectType: string;
  subjectId?: string | number | null;
  officeId?: number | null;
  details?: Record<string, unknown>;
}

export const systemActor: Actor = { id: null, email: 'system', ip: null };

/** Who changed what, when, from where. Pass the transaction so the record commits with the change. */
export class AuditLog {
  constructor(private readonly db: Kysely<CoreTables>) {}

  async record(actor: Actor, entry: AuditEntry, trx: Kysely<CoreTables> = this.db): Promise<void> {
    await trx
      .insertInto('audit_log')
      .values({
        actor_id: actor.id,
        actor_email: actor.email,
        ip: actor.ip,
        action: entry.action,
        subject_type: entry.subjectType,
        subject_id: entry.subjectId == null ? null : String(entry.subjectId),
        office_id: entry.officeId ?? null,
        details: JSON.stringify(entry.details ?? {}),
      })
      .execute();
  }
}
