import fs from 'node:fs';
import type { CliCommand } from '../../core/manifest';
import { parsePb, PbParseError } from './domain/pabulib';
import { fromPb } from './domain/instance';
import { greedy, mes, mesCompareGreedy, type Outcome } from './domain/rules';
import { importPb, countBallots } from './store';
import { bgDb } from './tables';

const USAGE = `Usage:
  cabildo pb import <file.pb> [--name "Budget name"]
  cabildo pb results <file.pb> --rule greedy|mes|mes-compare-greedy [--json]
      greedy: by votes (score for cumulative/ordinal), skipping what does not fit
      mes:    Method of Equal Shares with add1 completion (Pabulib's equalshares/add1)
      mes-compare-greedy: mes, then greedy if more voters prefer it (equalshares/add1-comparison)`;

const RULES = ['greedy', 'mes', 'mes-compare-greedy'] as const;
type FileRule = (typeof RULES)[number];

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Projects in the order of the file, so outputs compare line by line. */
function inFileOrder(ids: string[], order: string[]): string[] {
  const chosen = new Set(ids);
  return order.filter((id) => chosen.has(id));
}

export function resultsOfFile(text: string, rule: FileRule): Outcome {
  const pb = parsePb(text);
  const e = fromPb(pb);
  const out = rule === 'greedy' ? greedy(e) : rule === 'mes' ? mes(e, { add1: true }) : mesCompareGreedy(e);
  return { selected: inFileOrder(out.selected, pb.projects.map((p) => p.project_id)), cost: out.cost };
}

export const pbCommand: CliCommand = {
  summary: 'Pabulib .pb files: import one as a finished budget, or compute its winners',
  async run(services, args) {
    const [sub, file] = args;
    if (!sub || !file || !['import', 'results'].includes(sub)) {
      console.error(USAGE);
      return 2;
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      console.error(`Cannot read ${file}: ${(err as Error).message}`);
      return 1;
    }
    try {
      if (sub === 'results') {
        const rule = flag(args, '--rule') ?? 'greedy';
        if (!(RULES as readonly string[]).includes(rule)) {
          console.error(`Unknown rule "${rule}".\n${USAGE}`);
          return 2;
        }
        const out = resultsOfFile(text, rule as FileRule);
        if (args.includes('--json')) console.log(JSON.stringify({ selected: out.selected, cost: out.cost }));
        else {
          console.log(`Rule: ${rule}. Funded ${out.selected.length} projects, total cost ${out.cost}.`);
          for (const id of out.selected) console.log(`  ${id}`);
        }
        return 0;
      }
      const pb = parsePb(text);
      const id = await importPb(services, pb, { name: flag(args, '--name') });
      console.log(`Imported budget ${id}: ${pb.projects.length} projects, ${await countBallots(bgDb(services), id)} ballots. See /budgets/${id}/results`);
      return 0;
    } catch (err) {
      if (err instanceof PbParseError) {
        console.error(`Invalid .pb file: ${err.message}`);
        return 1;
      }
      throw err;
    }
  },
};
