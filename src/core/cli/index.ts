import type { CliCommand } from '../manifest';
import { createAdminCommand, tokenCommand } from './admin';
import { backupCommand, restoreCommand } from './backup';

/** Core's subcommands of `cabildo` (besides serve and migrate, which main.ts runs itself). */
export const coreCommands: Record<string, CliCommand> = {
  'create-admin': createAdminCommand,
  token: tokenCommand,
  backup: backupCommand,
  restore: restoreCommand,
};
