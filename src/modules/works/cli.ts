import fs from 'node:fs';
import type { CliCommand } from '../../core/manifest';
import { importFile, ImportError } from './importer';

/** `cabildo works import <file.csv|file.json>` */
export const worksCli: CliCommand = {
  summary: 'works import <file.csv|package.json>: import BA Obras CSV (any vintage) or an OC4IDS project package',
  async run(services, args) {
    const [sub, file] = args;
    if (sub !== 'import' || !file) {
      console.error('Usage: cabildo works import <file.csv|package.json>');
      return 2;
    }
    if (!fs.existsSync(file)) {
      console.error(`No such file: ${file}`);
      return 2;
    }
    try {
      const r = await importFile(services, fs.readFileSync(file), file);
      for (const rej of r.rejected) console.log(`line ${rej.line}${rej.ref ? ` (${rej.ref})` : ''}: ${rej.reason}`);
      for (const w of r.warnings) console.log(`line ${w.line}${w.ref ? ` (${w.ref})` : ''}: warning: ${w.reason}`);
      console.log(r.line);
      return 0;
    } catch (err) {
      if (err instanceof ImportError) {
        console.error(`Cannot import ${file}: ${err.message}`);
        return 1;
      }
      throw err;
    }
  },
};
