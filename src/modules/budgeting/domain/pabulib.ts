/**
 * The Pabulib `.pb` format (pabulib.org/format): three `;`-separated CSV sections, META, PROJECTS
 * and VOTES. Ids stay strings (Łódź uses `L005`, Katowice `M/28/XI`), fields are trimmed because
 * real files carry trailing spaces, and quoted fields follow CSV rules (`""` inside quotes).
 */

export interface PbProject {
  project_id: string;
  cost: number;
  /** Every column of the row as written (including project_id and cost). */
  fields: Record<string, string>;
}

export interface PbVote {
  voter_id: string;
  /** Project ids, in the order written (best first for ordinal, by decreasing points for cumulative). */
  vote: string[];
  points?: number[];
  fields: Record<string, string>;
}

export interface PbInstance {
  meta: Record<string, string>;
  projectColumns: string[];
  projects: PbProject[];
  voteColumns: string[];
  votes: PbVote[];
}

export class PbParseError extends Error {}

const SECTIONS = new Set(['META', 'PROJECTS', 'VOTES']);

/** Splits one CSV record (which may hold quoted `;` or newlines) into fields. */
function quotedFields(rec: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < rec.length; i++) {
    const ch = rec[i];
    if (quoted) {
      if (ch === '"') {
        if (rec[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ';') {
      out.push(field);
      field = '';
    } else field += ch;
  }
  out.push(field);
  return out;
}

/**
 * Splits the text into rows of fields. Most lines have no quotes and are split directly; a line
 * with quotes goes through the CSV reader, joined with the next lines while a quote is open.
 */
function* rows(text: string): Generator<string[]> {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (line.trim() === '') continue;
    if (!line.includes('"')) {
      yield line.split(';');
      continue;
    }
    // An odd number of quotes means a quoted field runs on into the next line.
    while ((line.match(/"/g)?.length ?? 0) % 2 === 1 && i + 1 < lines.length) line += '\n' + lines[++i];
    yield quotedFields(line);
  }
}

function list(s: string | undefined): string[] {
  if (s === undefined) return [];
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

function toNumber(s: string, what: string): number {
  const v = Number(s.trim().replace(',', '.'));
  if (!Number.isFinite(v)) throw new PbParseError(`${what}: "${s}" is not a number`);
  return v;
}

export function parsePb(text: string): PbInstance {
  const meta: Record<string, string> = {};
  const projects: PbProject[] = [];
  const votes: PbVote[] = [];
  let projectColumns: string[] = [];
  let voteColumns: string[] = [];
  let section: string | null = null;
  let header: string[] | null = null;
  let line = 0;
  for (const raw of rows(text)) {
    line++;
    const r = raw.map((f) => f.trim());
    if (r.length === 1 && SECTIONS.has(r[0])) {
      section = r[0];
      header = null;
      continue;
    }
    if (section === null) throw new PbParseError(`row ${line}: data before the META section`);
    if (header === null) {
      header = r.map((h) => h.toLowerCase());
      if (section === 'PROJECTS') {
        projectColumns = header;
        if (!header.includes('project_id') || !header.includes('cost')) throw new PbParseError('PROJECTS needs project_id and cost columns');
      } else if (section === 'VOTES') {
        voteColumns = header;
        if (!header.includes('voter_id') || !header.includes('vote')) throw new PbParseError('VOTES needs voter_id and vote columns');
      }
      continue;
    }
    const rec: Record<string, string> = {};
    header.forEach((h, j) => {
      rec[h] = r[j] ?? '';
    });
    if (section === 'META') {
      meta[r[0]] = r.slice(1).join(';');
    } else if (section === 'PROJECTS') {
      const id = rec.project_id;
      if (!id) throw new PbParseError(`row ${line}: project without project_id`);
      projects.push({ project_id: id, cost: toNumber(rec.cost, `project ${id} cost`), fields: rec });
    } else {
      const vote = list(rec.vote);
      const v: PbVote = { voter_id: rec.voter_id, vote, fields: rec };
      if (rec.points !== undefined && rec.points !== '') {
        v.points = list(rec.points).map((p) => toNumber(p, `voter ${rec.voter_id} points`));
        if (v.points.length !== vote.length) throw new PbParseError(`voter ${rec.voter_id}: points and vote differ in length`);
      }
      votes.push(v);
    }
  }
  if (!('budget' in meta)) throw new PbParseError('META has no budget');
  toNumber(meta.budget, 'budget');
  const ids = new Set(projects.map((p) => p.project_id));
  if (ids.size !== projects.length) throw new PbParseError('duplicate project_id');
  for (const v of votes) {
    for (const id of v.vote) if (!ids.has(id)) throw new PbParseError(`voter ${v.voter_id} votes for unknown project ${id}`);
  }
  return { meta, projectColumns, projects, voteColumns, votes };
}

function quote(s: string): string {
  return /[;"\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(n);
}

/** Writes an instance back; META keys num_projects and num_votes are set from the data. */
export function writePb(instance: PbInstance): string {
  const out: string[] = ['META', 'key;value'];
  const meta = { ...instance.meta, num_projects: String(instance.projects.length), num_votes: String(instance.votes.length) };
  for (const [k, v] of Object.entries(meta)) out.push(`${quote(k)};${quote(v)}`);
  const pcols = instance.projectColumns.length ? instance.projectColumns : ['project_id', 'cost'];
  out.push('PROJECTS', pcols.map(quote).join(';'));
  for (const p of instance.projects) {
    const f: Record<string, string> = { ...p.fields, project_id: p.project_id, cost: num(p.cost) };
    out.push(pcols.map((c) => quote(f[c] ?? '')).join(';'));
  }
  const vcols = instance.voteColumns.length ? instance.voteColumns : ['voter_id', 'vote'];
  out.push('VOTES', vcols.map(quote).join(';'));
  for (const v of instance.votes) {
    const f: Record<string, string> = { ...v.fields, voter_id: v.voter_id, vote: v.vote.join(',') };
    if (v.points) f.points = v.points.map(num).join(',');
    out.push(vcols.map((c) => quote(f[c] ?? '')).join(';'));
  }
  return out.join('\n') + '\n';
}
