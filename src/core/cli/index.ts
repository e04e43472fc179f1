import type { CliCommand } from '../manifest';

/** Core's subcommands of `cabildo` (besides serve and migrate, which main.ts runs itself). */
export const coreCommands: Record<string, CliCommand> = {};
