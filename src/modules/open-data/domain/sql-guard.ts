/**
 * datastore_search_sql accepts one read-only SELECT over DataStore tables. The tokenizer here is
 * the first fence only (it rejects what is not a single SELECT and names the tables after
 * FROM/JOIN); the one that decides what a statement reads is `planFacts`, over PostgreSQL's own
 * plan of it; then a READ ONLY transaction with a statement timeout, a cost bound, and a role that
 * can read the datastore schema only.
 */
export class SqlGuardError extends Error {}

const FORBIDDEN = new Set([
  'insert', 'update', 'delete', 'merge', 'into', 'create', 'drop', 'alter', 'truncate', 'grant', 'revoke',
  'copy', 'set', 'reset', 'do', 'call', 'execute', 'prepare', 'lock', 'vacuum', 'analyze', 'cluster',
  'listen', 'notify', 'load', 'discard', 'begin', 'commit', 'rollback', 'savepoint', 'comment', 'security',
  'refresh', 'reindex', 'checkpoint', 'declare', 'fetch', 'move', 'close', 'import',
]);

/** Functions that reach outside the statement's own rows (files, sleeping, settings, other sessions). */
// generate_series and friends make rows, repeat/lpad/rpad make text, out of a number the planner
// cannot see (`generate_series(1, n * 3000000)` is costed as 1,000 rows): on PGlite, which cannot
// cancel a statement, one such query would hold the database for hours.
const FORBIDDEN_FUNCTION = /^(pg_|lo_|dblink|current_setting|set_config|query_to_xml|table_to_xml|schema_to_xml|database_to_xml|cursor_to_xml|ts_stat$|ts_rewrite$|xpath|txid_|inet_|version$|generate_series$|generate_subscripts$|repeat$|lpad$|rpad$|array_fill$)/i;
/** The same functions, found anywhere in a deparsed expression of the plan (name then "("). */
const FORBIDDEN_CALL =
  /(?:^|[^A-Za-z0-9_$."])"?((?:pg_|lo_|dblink|query_to_xml|table_to_xml|schema_to_xml|database_to_xml|cursor_to_xml|xpath|txid_|inet_)[A-Za-z0-9_$]*|current_setting|set_config|ts_stat|ts_rewrite|version|generate_series|generate_subscripts|repeat|lpad|rpad|array_fill)"?\s*\(/i;

function readString(s: string, start: number, backslashEscapes: boolean): { text: string; end: number } {
  let j = start + 1;
  let text = '';
  for (;;) {
    if (j >= s.length) throw new SqlGuardError('Unterminated string literal');
    if (backslashEscapes && s[j] === '\\') {
      text += s[j + 1] ?? '';
      j += 2;
    } else if (s[j] === "'" && s[j + 1] === "'") {
      text += "'";
      j += 2;
    } else if (s[j] === "'") break;
    else text += s[j++];
  }
  return { text, end: j + 1 };
}

interface Token {
  kind: 'word' | 'quoted' | 'string' | 'symbol' | 'number';
  text: string;
}

function tokenize(sqlText: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const s = sqlText;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && s[i + 1] === '-') {
      while (i < s.length && s[i] !== '\n') i++;
    } else if (c === '/' && s[i + 1] === '*') {
      const end = s.indexOf('*/', i + 2);
      if (end < 0) throw new SqlGuardError('Unterminated comment');
      i = end + 2;
    } else if (c === "'") {
      // Standard-conforming string: a backslash is an ordinary character (the caller sets
      // standard_conforming_strings on for the statement).
      const r = readString(s, i, false);
      tokens.push({ kind: 'string', text: r.text });
      i = r.end;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      for (;;) {
        if (j >= s.length) throw new SqlGuardError('Unterminated quoted identifier');
        if (s[j] === '"' && s[j + 1] === '"') {
          text += '"';
          j += 2;
        } else if (s[j] === '"') break;
        else text += s[j++];
      }
      tokens.push({ kind: 'quoted', text });
      i = j + 1;
    } else if (c === '$') {
      // Dollar quoting ($$…$$, $tag$…$tag$) could hide anything from this scanner, and $1 is a
      // parameter nobody can bind here; CKAN's users need neither.
      throw new SqlGuardError(/^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(s.slice(i)) ? 'Dollar-quoted strings are not allowed' : 'Parameters ($1) are not allowed');
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < s.length && /[A-Za-z0-9_$]/.test(s[j])) j++;
      const word = s.slice(i, j).toLowerCase();
      if (word === 'e' && s[j] === "'") {
        // E'…': backslash escapes, so \' does not end the string (it would hide what follows).
        const r = readString(s, j, true);
        tokens.push({ kind: 'string', text: r.text });
        i = r.end;
      } else if (word === 'u' && s[j] === '&' && s[j + 1] === "'") {
        // U&'…': only \XXXX escapes, a quote still ends it unless doubled.
        const r = readString(s, j + 1, false);
        tokens.push({ kind: 'string', text: r.text });
        i = r.end;
      } else if (word === 'u' && s[j] === '&' && s[j + 1] === '"') {
        // U&"\0070g_…" would spell a name this scanner cannot see.
        throw new SqlGuardError('Unicode-escaped identifiers (U&"…") are not allowed');
      } else {
        tokens.push({ kind: 'word', text: s.slice(i, j) });
        i = j;
      }
    } else if (/[0-9]/.test(c)) {
      let j = i;
      while (j < s.length && /[0-9.eE]/.test(s[j])) j++;
      tokens.push({ kind: 'number', text: s.slice(i, j) });
      i = j;
    } else {
      tokens.push({ kind: 'symbol', text: c });
      i++;
    }
  }
  return tokens;
}

export interface GuardedSql {
  /** The statement without a trailing semicolon. */
  sql: string;
  /** Tables named after FROM/JOIN (CTE names excluded), as written (resource ids). */
  tables: string[];
}

export function guardSelect(sqlText: string): GuardedSql {
  if (typeof sqlText !== 'string' || !sqlText.trim()) throw new SqlGuardError('"sql" is required');
  if (sqlText.length > 20000) throw new SqlGuardError('Statement too long');
  let body = sqlText.trim();
  const tokens = tokenize(body);
  // One trailing semicolon is harmless; any other means a second statement.
  const semis = tokens.filter((t) => t.kind === 'symbol' && t.text === ';');
  if (semis.length) {
    const last = tokens[tokens.length - 1];
    if (semis.length > 1 || last.kind !== 'symbol' || last.text !== ';') throw new SqlGuardError('Only one statement is allowed');
    tokens.pop();
    // Cut at that semicolon: the last ';' that only whitespace and comments follow.
    for (let i = body.lastIndexOf(';'); i >= 0; i = body.lastIndexOf(';', i - 1)) {
      if (/^(\s|--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/)*$/.test(body.slice(i + 1))) {
        body = body.slice(0, i);
        break;
      }
    }
  }
  const first = tokens[0];
  if (!first || first.kind !== 'word' || !['select', 'with'].includes(first.text.toLowerCase())) {
    throw new SqlGuardError('Only SELECT statements are allowed');
  }
  const ctes = new Set<string>();
  const tables: string[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    const lower = t.text.toLowerCase();
    if (t.kind === 'word' && FORBIDDEN.has(lower)) throw new SqlGuardError(`"${t.text}" is not allowed in datastore_search_sql`);
    if ((t.kind === 'word' || t.kind === 'quoted') && (lower.startsWith('pg_') || lower === 'information_schema')) {
      throw new SqlGuardError(`"${t.text}" is not a DataStore table`);
    }
    const next = tokens[k + 1];
    if ((t.kind === 'word' || t.kind === 'quoted') && next?.kind === 'symbol' && next.text === '(' && FORBIDDEN_FUNCTION.test(t.text)) {
      throw new SqlGuardError(`Function "${t.text}" is not allowed`);
    }
    if (t.kind === 'symbol' && t.text === '.' && next && tokens[k - 1]) {
      // schema.table: only the datastore schema is readable
      const prev = tokens[k - 1];
      const after = tokens[k + 2];
      const isRelation = after?.kind !== 'symbol' || after.text !== '(';
      if (!isRelation && (prev.kind === 'word' || prev.kind === 'quoted')) {
        // Unqualified names resolve in pg_catalog only (search_path is the datastore schema,
        // which holds no functions); a qualified one could be the app's own function that reads its tables.
        throw new SqlGuardError(`Function "${prev.text}.${next.text}" is not allowed`);
      }
      if (isRelation && (prev.kind === 'word' || prev.kind === 'quoted') && ['public', 'pg_catalog', 'information_schema'].includes(prev.text.toLowerCase())) {
        throw new SqlGuardError(`Schema "${prev.text}" is not readable`);
      }
    }
    if (t.kind === 'word' && (lower === 'with' || (lower === ',' && ctes.size))) {
      // handled below via "name AS (" detection
    }
    if ((t.kind === 'word' || t.kind === 'quoted') && next?.kind === 'word' && next.text.toLowerCase() === 'as' && tokens[k + 2]?.text === '(') {
      ctes.add(t.text);
    }
    if (t.kind === 'word' && (lower === 'from' || lower === 'join')) {
      let n = tokens[k + 1];
      if (!n || (n.kind === 'symbol' && n.text === '(')) continue; // subquery
      if (n.kind === 'word' && n.text.toLowerCase() === 'lateral') continue;
      if ((n.kind === 'word' || n.kind === 'quoted') && tokens[k + 2]?.text === '.') {
        if (n.text.toLowerCase() !== 'datastore') throw new SqlGuardError(`Schema "${n.text}" is not readable`);
        n = tokens[k + 3];
      }
      if (!n || (n.kind !== 'word' && n.kind !== 'quoted')) throw new SqlGuardError('Expected a table name after FROM/JOIN');
      if (tokens[tokens.indexOf(n) + 1]?.text === '(') throw new SqlGuardError('Set-returning functions are not allowed in FROM');
      tables.push(n.text);
    }
  }
  const real = tables.filter((name) => !ctes.has(name));
  if (!real.length) throw new SqlGuardError('The statement must read at least one DataStore table');
  return { sql: body, tables: [...new Set(real)] };
}

/** Plan keys whose strings are names or labels, not expressions. */
const PLAN_LABELS = new Set([
  'Node Type', 'Relation Name', 'Schema', 'Alias', 'Index Name', 'CTE Name', 'Subplan Name', 'Parent Relationship',
  'Join Type', 'Strategy', 'Function Name', 'Scan Direction', 'Partial Mode', 'Operation', 'Command', 'Sort Method', 'Sort Space Type',
]);

export interface PlanFacts {
  /** Every relation the plan reads (tables, views are already expanded), with its schema. */
  relations: Array<{ schema: string; name: string }>;
  /** The planner's total cost of the whole statement. */
  totalCost: number;
}

/**
 * Reads `EXPLAIN (VERBOSE, FORMAT JSON)` of a guarded statement: the relations it actually reads
 * (comma joins, `TABLE x`, sub-selects anywhere, CTEs — whatever the tokenizer missed) and its
 * cost. The expressions are PostgreSQL's own deparse (U&, E'' and casts already resolved), so
 * a forbidden or schema-qualified function call found there is refused too.
 */
export function planFacts(explainResult: unknown): PlanFacts {
  const parsed = typeof explainResult === 'string' ? JSON.parse(explainResult) : explainResult;
  const root = (Array.isArray(parsed) ? parsed[0] : parsed) as { Plan?: Record<string, unknown> } | undefined;
  if (!root?.Plan) throw new SqlGuardError('The statement could not be planned');
  const relations: PlanFacts['relations'] = [];
  const expressions: string[] = [];
  const walk = (node: unknown, key?: string): void => {
    if (Array.isArray(node)) {
      for (const x of node) walk(x, key);
    } else if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (typeof o['Relation Name'] === 'string') relations.push({ schema: String(o.Schema ?? ''), name: o['Relation Name'] });
      for (const [k, v] of Object.entries(o)) walk(v, k);
    } else if (typeof node === 'string' && key && !PLAN_LABELS.has(key)) {
      expressions.push(node);
    }
  };
  walk(root.Plan);
  const qualified = /([A-Za-z0-9_$"]+)\s*\.\s*("?[A-Za-z_][A-Za-z0-9_$]*"?)\s*\(/;
  for (const e of expressions) {
    const code = e.replace(/'(?:[^']|'')*'/g, "''");
    const f = FORBIDDEN_CALL.exec(code);
    if (f) throw new SqlGuardError(`Function "${f[1]}" is not allowed`);
    const q = qualified.exec(code);
    if (q) throw new SqlGuardError(`Function "${q[1]}.${q[2]}" is not allowed`);
  }
  return { relations, totalCost: Number(root.Plan['Total Cost'] ?? 0) };
}
