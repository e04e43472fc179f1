#!/usr/bin/env node
// Runs the test suite with node's test runner: `npm test` on PGlite, `--pg` on PostgreSQL,
// `--e2e` the browser tests. Test files sit beside the code (*.test.ts / *.test.tsx).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const e2e = args.includes('--e2e');
const pgPass = args.includes('--pg');
const only = args.filter((a) => !a.startsWith('--'));

function find(dir, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) find(p, out);
    else if (/\.test\.tsx?$/.test(entry.name)) out.push(p);
  }
  return out;
}

let files = only.length ? only : e2e ? find('e2e') : find('src');
files.sort();
const env = { ...process.env, TEST_DATABASE: pgPass ? 'postgres' : 'pglite', LOG_LEVEL: 'silent', NODE_ENV: 'test' };
const concurrency = e2e ? '1' : process.env.TEST_CONCURRENCY ?? '2';
console.log(`Running ${files.length} test files on ${env.TEST_DATABASE}${e2e ? ' (browser)' : ''}`);
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files],
  { stdio: 'inherit', env },
);
process.exit(res.status ?? 1);
