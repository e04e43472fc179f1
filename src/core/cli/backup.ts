import path from 'node:path';
import { backup, restore, RestoreError } from '../backup';
import { terminalProgress } from './progress';
import type { CliCommand } from '../manifest';

export const backupCommand: CliCommand = {
  summary: 'backup <file>: write a dump of the whole database and the uploaded files',
  async run(services, args) {
    const [file] = args.filter((a) => !a.startsWith('--'));
    if (!file) {
      console.error('Usage: cabildo backup <file>');
      return 2;
    }
    const header = await backup(services, path.resolve(file), terminalProgress('backup'));
    const rows = header.tables.reduce((s, t) => s + t.rows, 0);
    console.log(`Wrote ${file}: ${rows} rows in ${header.tables.length} tables, ${header.files} files (from ${header.engine}).`);
    return 0;
  },
};

export const restoreCommand: CliCommand = {
  summary: 'restore <file>: load a dump written by backup into an empty database',
  async run(services, args) {
    const [file] = args.filter((a) => !a.startsWith('--'));
    if (!file) {
      console.error('Usage: cabildo restore <file>');
      return 2;
    }
    try {
      const header = await restore(services, path.resolve(file), terminalProgress('restore'));
      const rows = header.tables.reduce((s, t) => s + t.rows, 0);
      console.log(`Restored ${file} into ${services.database.engine}: ${rows} rows in ${header.tables.length} tables, ${header.files} files.`);
      return 0;
    } catch (err) {
      if (err instanceof RestoreError) {
        console.error(`Restore refused: ${err.message}`);
        return 1;
      }
      throw err;
    }
  },
};
