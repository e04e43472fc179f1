import argon2 from 'argon2';
import { randomToken, createApiToken } from '../auth/session';
import { systemActor } from '../audit';
import type { Services } from '../services';
import type { CliCommand } from '../manifest';

/** Reads `--flag value` from a command's arguments. */
export function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i === -1) return undefined;
  const v = args[i + 1];
  return v === undefined || v.startsWith('--') ? undefined : v;
}

/** The arguments that are neither flags nor flag values. */
export function positional(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--')) {
      if (args[i + 1] !== undefined && !args[i + 1].startsWith('--')) i++;
      continue;
    }
    out.push(args[i]);
  }
  return out;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export async function createAdmin(services: Services, email: string, name?: string): Promise<{ userId: number; created: boolean; password?: string }> {
  const normalised = email.trim().toLowerCase();
  if (!EMAIL.test(normalised)) throw new Error(`"${email}" is not an email address`);
  return services.db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('users').select(['id', 'roles']).where('email', '=', normalised).executeTakeFirst();
    if (existing) {
      if (!existing.roles.includes('admin')) {
        await trx.updateTable('users').set({ roles: [...existing.roles, 'admin'] }).where('id', '=', existing.id).execute();
      }
      await services.audit.record(systemActor, { action: 'user.roles', subjectType: 'user', subjectId: existing.id, details: { added: 'admin', via: 'cli' } }, trx);
      return { userId: existing.id, created: false };
    }
    // Long enough to be safe, short enough to type once before changing it.
    const password = randomToken(15);
    const hash = await argon2.hash(password, { type: argon2.argon2id });
    const row = await trx
      .insertInto('users')
      .values({ email: normalised, name: name ?? normalised.split('@')[0], password_hash: hash, roles: ['admin'], email_confirmed_at: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    await services.audit.record(systemActor, { action: 'user.create', subjectType: 'user', subjectId: row.id, details: { roles: ['admin'], via: 'cli' } }, trx);
    return { userId: row.id, created: true, password };
  });
}

export const createAdminCommand: CliCommand = {
  summary: 'create-admin <email> [--name N]: create (or promote) an administrator',
  async run(services, args) {
    const [email] = positional(args);
    if (!email) {
      console.error('Usage: cabildo create-admin <email> [--name <name>]');
      return 2;
    }
    const r = await createAdmin(services, email, flag(args, 'name'));
    if (r.created) {
      console.log(`Created administrator ${email.trim().toLowerCase()} (id ${r.userId}).`);
      console.log(`Password (shown once, change it after signing in): ${r.password}`);
    } else {
      console.log(`${email.trim().toLowerCase()} (id ${r.userId}) is an administrator.`);
    }
    return 0;
  },
};

export const tokenCommand: CliCommand = {
  summary: 'token create --email <e> [--name <label>]: create an API token (printed as the last line)',
  async run(services, args) {
    const [sub] = positional(args);
    const email = flag(args, 'email')?.trim().toLowerCase();
    if (sub !== 'create' || !email) {
      console.error('Usage: cabildo token create --email <email> [--name <label>]');
      return 2;
    }
    const user = await services.db.selectFrom('users').select('id').where('email', '=', email).where('disabled_at', 'is', null).executeTakeFirst();
    if (!user) {
      console.error(`No active account with email ${email}.`);
      return 1;
    }
    const label = flag(args, 'name') ?? `cli ${new Date().toISOString().slice(0, 10)}`;
    const { id, token } = await services.db.transaction().execute(async (trx) => {
      const created = await createApiToken(trx, user.id, label);
      await services.audit.record(systemActor, { action: 'api_token.create', subjectType: 'api_token', subjectId: created.id, details: { userId: user.id, name: label, via: 'cli' } }, trx);
      return created;
    });
    console.log(`API token ${id} "${label}" for ${email}. It is shown once; keep it secret.`);
    console.log(token);
    return 0;
  },
};
