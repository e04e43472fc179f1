// What the CKAN API tests share: a portal with two offices (one the tests publish for, one that may
// not), two themes, and ckanapi clients anonymous, as a member that administers the office (raw
// token), as a member that only edits for it (drafts and review, no publishing) and as an outsider
// (token as a Bearer header: both forms are accepted).
import assert from 'node:assert/strict';
import { Portal } from 'ckanapi';
import { createTestApp, createOffice, createUser, type TestContext } from '../../core/testing/harness';
import { createApiToken } from '../../core/auth/session';
import { manifest } from './manifest';
import { odDb, upsertTheme } from './store';

export type CkanClient = InstanceType<typeof Portal>;

export interface CkanFixture {
  t: TestContext;
  base: string;
  anon: CkanClient;
  editor: CkanClient;
  /** A member with the office's 'editor' role only. */
  junior: CkanClient;
  outsider: CkanClient;
  officeSlug: string;
  memberId: number;
  juniorId: number;
  strangerId: number;
}

export async function ckanFixture(opts: { office: [string, string]; otherOffice: [string, string]; themes: Array<[string, string]> }): Promise<CkanFixture> {
  const t = await createTestApp({ modules: [manifest] });
  const base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  const office = await createOffice(t.services, { slug: opts.office[0], name: opts.office[1] });
  const other = await createOffice(t.services, { slug: opts.otherOffice[0], name: opts.otherOffice[1] });
  const member = await createUser(t.services, { roles: ['official'], officeIds: [office.id], officeAdminIds: [office.id] });
  const juniorUser = await createUser(t.services, { roles: ['official'], officeIds: [office.id] });
  const stranger = await createUser(t.services, { roles: ['official'], officeIds: [other.id] });
  const db = odDb(t.services);
  for (const [name, title] of opts.themes) await upsertTheme(db, { name, title });
  const anon = new Portal(base);
  const editor = anon.withToken((await createApiToken(t.services.db, member.id, 'test')).token);
  const junior = anon.withToken((await createApiToken(t.services.db, juniorUser.id, 'test')).token);
  const outsider = anon.withToken(`Bearer ${(await createApiToken(t.services.db, stranger.id, 'test')).token}`);
  return { t, base, anon, editor, junior, outsider, officeSlug: office.slug, memberId: member.id, juniorId: juniorUser.id, strangerId: stranger.id };
}

export interface CkanErr {
  __type: string;
  message?: string;
  [k: string]: unknown;
}

/** Awaits a ckanapi call that must fail with CKAN's error of that __type; returns the error. */
export async function rejects(p: Promise<unknown>, type: string): Promise<CkanErr> {
  try {
    await p;
  } catch (err) {
    const e = err as CkanErr;
    assert.equal(e.__type, type, JSON.stringify(e));
    return e;
  }
  assert.fail(`expected a ${type}`);
}

/** A multipart body for ckanapi: the fields and, optionally, the file as `upload`. */
export function form(fields: Record<string, string>, file?: { name: string; data: Buffer | string }) {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  if (file) fd.append('upload', new Blob([new Uint8Array(typeof file.data === 'string' ? Buffer.from(file.data) : file.data)]), file.name);
  return fd;
}
