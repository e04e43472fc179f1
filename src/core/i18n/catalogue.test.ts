import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { coreCatalogues, LOCALES, type Catalogues } from './index';
import { coreMessages } from '../messages';
import { modules } from '../../modules';

const all: Array<{ owner: string; c: Catalogues }> = [
  { owner: 'core shell', c: coreCatalogues },
  ...coreMessages.map((c, i) => ({ owner: `core area #${i}`, c })),
  ...modules.filter((m) => m.messages).map((m) => ({ owner: m.name, c: m.messages! })),
];

test('every catalogue has the same keys in es-AR and en, none empty', () => {
  const problems: string[] = [];
  for (const { owner, c } of all) {
    for (const a of LOCALES) {
      for (const b of LOCALES) {
        if (a === b) continue;
        for (const key of Object.keys(c[a])) if (!(key in c[b])) problems.push(`${owner}: "${key}" is in ${a} but missing in ${b}`);
      }
      for (const [key, value] of Object.entries(c[a])) if (!value.trim()) problems.push(`${owner}: "${key}" is empty in ${a}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('every t("literal") used in the code exists in the catalogues', () => {
  const known = new Set(all.flatMap(({ c }) => Object.keys(c['es-AR'])));
  const missing: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name)) {
        const src = fs.readFileSync(p, 'utf8');
        for (const m of src.matchAll(/\bt\(\s*'([a-zA-Z0-9_.-]+)'/g)) if (!known.has(m[1])) missing.push(`${p}: ${m[1]}`);
      }
    }
  };
  walk(path.resolve('src'));
  assert.deepEqual(missing, []);
});
