// A second (and third) app process for the integrity test: casts the same resident's ballot many
// times against PostgreSQL, starting at an agreed instant so the two processes collide.
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { castOnlineBallot } from '../store';
import type { BgDb } from '../tables';

const [url, budgetId, groupId, headingId, userId, startAt, proposals] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: url, max: 4 });
const db = new Kysely({ dialect: new PostgresDialect({ pool }) }) as unknown as BgDb;
const ids = proposals.split(',').map(Number);
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
let ok = 0;
await Promise.all(
  Array.from({ length: 4 }, async (_, lane) => {
    for (let i = 0; i < 25; i++) {
      const chosen = ids.filter((_, k) => (k + i + lane) % 2 === 0);
      await castOnlineBallot(db, { budgetId: Number(budgetId), groupId: Number(groupId), headingId: Number(headingId), userId: Number(userId), communeId: null, proposalIds: chosen });
      ok++;
    }
  }),
);
await db.destroy();
console.log(JSON.stringify({ ok }));
