import nodemailer, { type Transporter } from 'nodemailer';
import { sql, type Kysely } from 'kysely';
import type { CoreTables } from '../db/schema';
import type { Logger } from 'pino';

export interface Message {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

/**
 * Every message goes to the outbox table first, in the caller's transaction, so a message is
 * sent only if the change that caused it committed. The job worker delivers it through SMTP
 * when SMTP_URL is set; without it the outbox (seen at /admin/outbox) is the delivery.
 */
export class Mailer {
  private transport?: Transporter;
  private timer?: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    private readonly db: Kysely<CoreTables>,
    private readonly opts: { smtpUrl?: string; from: string },
    private readonly log?: Logger,
  ) {
    if (opts.smtpUrl) this.transport = nodemailer.createTransport(opts.smtpUrl);
  }

  get delivers(): boolean {
    return Boolean(this.transport);
  }

  async enqueue(msg: Message, trx: Kysely<CoreTables> = this.db): Promise<number> {
    const row = await trx
      .insertInto('mail_outbox')
      .values({ to_address: msg.to, subject: msg.subject, text_body: msg.text, html_body: msg.html ?? null })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (this.transport) {
      // Delivery is a job in the same transaction: it exists only if the message does, and any
      // app process's worker may send it. One queued delivery job serves every pending message.
      await sql`
        insert into jobs (kind, payload, log)
        select 'mail.deliver', '{}'::jsonb, '[]'::jsonb
        where not exists (select 1 from jobs where kind = 'mail.deliver' and status = 'queued')`.execute(trx);
    }
    return row.id;
  }

  /**
   * Sweeps the outbox every `intervalMs` (the server does this): messages whose delivery failed
   * are retried with a growing delay, and mail written while SMTP was not configured goes out.
   */
  start(intervalMs = 30_000): void {
    if (!this.transport || this.timer) return;
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = true;
      this.deliverPending()
        .catch((err) => this.log?.error({ err }, 'mail sweep failed'))
        .finally(() => (this.sweeping = false));
    }, intervalMs);
    this.timer.unref();
  }

  /**
   * Sends what the outbox holds unsent (oldest first). Returns how many went out. A message that
   * failed waits before its next attempt (30 s, 1 min, 2 min… then hourly) and is never dropped:
   * it stays in the outbox with its last error until the SMTP server takes it.
   */
  async deliverPending(limit = 50): Promise<number> {
    if (!this.transport) return 0;
    const pending = await this.db
      .selectFrom('mail_outbox')
      .selectAll()
      .where('sent_at', 'is', null)
      .where(
        sql<boolean>`attempts = 0 or created_at <= now() - (interval '30 seconds' * (power(2, least(attempts, 7)) - 1) + interval '1 hour' * greatest(attempts - 7, 0))`,
      )
      .orderBy('id')
      .limit(limit)
      .execute();
    let sent = 0;
    for (const m of pending) {
      // Claim the row so a second process does not send it too.
      const claimed = await this.db
        .updateTable('mail_outbox')
        .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
        .where('id', '=', m.id)
        .where('attempts', '=', m.attempts)
        .where('sent_at', 'is', null)
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) continue;
      try {
        await this.transport.sendMail({
          from: this.opts.from,
          to: m.to_address,
          subject: m.subject,
          text: m.text_body,
          html: m.html_body ?? undefined,
        });
        await this.db.updateTable('mail_outbox').set({ sent_at: new Date(), last_error: null }).where('id', '=', m.id).execute();
        sent++;
      } catch (err) {
        this.log?.warn({ err, mailId: m.id }, 'mail delivery failed');
        await this.db.updateTable('mail_outbox').set({ last_error: String((err as Error).message) }).where('id', '=', m.id).execute();
      }
    }
    return sent;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    this.transport?.close();
  }
}
