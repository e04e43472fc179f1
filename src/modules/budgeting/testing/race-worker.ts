// A second (and third) app process for the integrity test: casts the same resident's ballot many
// times against PostgreSQL, starting at an agreed instant so the two processes collide. Casts go
// through the group-commit writer, as the ballot page's do, so batches of both processes collide.
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { BallotWriter } from '../store';
import type { BgDb } from '../tables';

const [url, budgetId, , headingId, userId, startAt, proposals] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: url, max: 4 });
const db = new Kysely({ dialect: new PostgresDialect({ pool }) }) as unknown as BgDb;
const writer = new BallotWriter(db);
const ids = proposals.split(',').map(Number);
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
let ok = 0;
await Promise.all(
  Array.from({ length: 4 }, async (_, lane) => {
    for (let i = 0; i < 25; i++) {
      const chosen = ids.filter((_, k) => (k + i + lane) % 2 === 0);
      const out = await writer.cast({ budgetId: Number(budgetId), headingId: Number(headingId), userId: Number(userId), proposalIds: chosen });
      if (out.status === 'ok') ok++;
    }
  }),
);
await db.destroy();
console.log(JSON.stringify({ ok }));
