import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SMTPServer } from 'smtp-server';
import { sql } from 'kysely';
import { createTestApp, type TestContext } from '../testing/harness';

interface Received {
  to: string[];
  raw: string;
}

const received: Received[] = [];

function startSmtp(port: number): Promise<SMTPServer> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

let t: TestContext;
let smtp: SMTPServer | undefined;
let port: number;

before(async () => {
  port = await freePort();
  smtp = await startSmtp(port);
  t = await createTestApp({ config: { smtpUrl: `smtp://127.0.0.1:${port}`, mailFrom: 'Cabildo <no-reply@cabildo.test>' } });
});
after(async () => {
  await t.close();
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
});

const outbox = (id: number) => t.services.db.selectFrom('mail_outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

test('enqueue writes the outbox and a delivery job; the worker sends it and sets sent_at', async () => {
  const id = await t.services.db.transaction().execute((trx) =>
    t.services.mail.enqueue({ to: 'vecina@example.org', subject: 'Confirmá tu correo', text: 'Hola, confirmá tu cuenta en Cabildo.' }, trx),
  );
  const jobs = await t.services.db.selectFrom('jobs').select(['kind', 'status']).where('kind', '=', 'mail.deliver').execute();
  assert.deepEqual(jobs, [{ kind: 'mail.deliver', status: 'queued' }]);
  assert.equal((await outbox(id)).sent_at, null);

  assert.equal(await t.services.jobs.drain(5), 1);
  const row = await outbox(id);
  assert.ok(row.sent_at instanceof Date, 'sent_at set');
  assert.equal(row.last_error, null);
  assert.equal(received.length, 1);
  assert.deepEqual(received[0].to, ['vecina@example.org']);
  assert.match(received[0].raw, /Hola, confirm/);
  assert.match(received[0].raw, /From: Cabildo <no-reply@cabildo\.test>/);
});

test('a rolled-back change sends nothing', async () => {
  await assert.rejects(
    t.services.db.transaction().execute(async (trx) => {
      await t.services.mail.enqueue({ to: 'nadie@example.org', subject: 'x', text: 'x' }, trx);
      throw new Error('the change failed');
    }),
  );
  assert.equal(await t.services.db.selectFrom('mail_outbox').select('id').where('to_address', '=', 'nadie@example.org').executeTakeFirst(), undefined);
  assert.equal(await t.services.db.selectFrom('jobs').select('id').where('status', '=', 'queued').executeTakeFirst(), undefined);
});

test('SMTP down: the error is recorded, the message waits, and goes out once the server is back', async () => {
  await new Promise<void>((r) => smtp!.close(() => r()));
  smtp = undefined;
  const before = received.length;
  const id = await t.services.mail.enqueue({ to: 'vecino@example.org', subject: 'Restablecé tu contraseña', text: 'Seguí este enlace.' });
  await t.services.jobs.drain(5);
  let row = await outbox(id);
  assert.equal(row.sent_at, null);
  assert.equal(row.attempts, 1);
  assert.ok(row.last_error && row.last_error.length > 0, `last_error recorded: ${row.last_error}`);

  // Right after a failure the message waits its turn instead of hammering a dead server.
  assert.equal(await t.services.mail.deliverPending(), 0);
  assert.equal((await outbox(id)).attempts, 1);

  // Time passes (the retry delay is over) while SMTP is still down: a second failed attempt, still kept.
  await sql`update mail_outbox set created_at = created_at - interval '2 minutes' where id = ${id}`.execute(t.services.db);
  assert.equal(await t.services.mail.deliverPending(), 0);
  row = await outbox(id);
  assert.equal(row.attempts, 2);
  assert.equal(row.sent_at, null);

  // Many failures later it is still in the outbox and still retried: never given up.
  await sql`update mail_outbox set attempts = 9, created_at = created_at - interval '1 day' where id = ${id}`.execute(t.services.db);
  smtp = await startSmtp(port);
  assert.equal(await t.services.mail.deliverPending(), 1);
  row = await outbox(id);
  assert.ok(row.sent_at instanceof Date);
  assert.equal(row.last_error, null);
  assert.equal(received.length, before + 1);
  assert.deepEqual(received.at(-1)!.to, ['vecino@example.org']);
});

test("the server's sweep sends mail left in the outbox (written before SMTP_URL was set)", async () => {
  const before = received.length;
  const row = await t.services.db
    .insertInto('mail_outbox')
    .values({ to_address: 'antes@example.org', subject: 'Escrito sin SMTP', text_body: 'Quedó en la bandeja.' })
    .returning('id')
    .executeTakeFirstOrThrow();
  t.services.mail.start(100);
  try {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await outbox(row.id)).sent_at === null) await new Promise((r) => setTimeout(r, 100));
  } finally {
    t.services.mail.stop();
  }
  assert.ok((await outbox(row.id)).sent_at instanceof Date, 'sent by the sweep');
  assert.deepEqual(received.slice(before).map((m) => m.to), [['antes@example.org']]);
});

test('without SMTP_URL the outbox is the delivery: no job is queued', async () => {
  const plain = await createTestApp();
  try {
    await plain.services.mail.enqueue({ to: 'a@example.org', subject: 's', text: 't' });
    assert.equal(plain.services.mail.delivers, false);
    assert.equal(await plain.services.db.selectFrom('jobs').select('id').executeTakeFirst(), undefined);
    assert.equal(await plain.services.mail.deliverPending(), 0);
  } finally {
    await plain.close();
  }
});
