import nodemailer, { type Transporter } from 'nodemailer';
import type { Kysely } from 'kysely';
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
    return row.id;
  }

  /** Sends what the outbox holds unsent (oldest first). Returns how many went out. */
  async deliverPending(limit = 50): Promise<number> {
    if (!this.transport) return 0;
    const pending = await this.db
      .selectFrom('mail_outbox')
      .selectAll()
      .where('sent_at', 'is', null)
      .where('attempts', '<', 5)
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

  close(): void {
    this.transport?.close();
  }
}
