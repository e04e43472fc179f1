/**
 * datastore_search_sql accepts one read-only SELECT over DataStore tables. This is the first
 * of three fences (then a READ ONLY transaction with a statement timeout, then on PostgreSQL a
 * role that can read the datastore schema only): it rejects what is not a single SELECT and
 * names the tables the statement reads, so that the caller can check each one exists.
 */
export class SqlGuardError extends Error {}

const FORBIDDEN = new Set([
  'insert', 'update', 'delete', 'merge', 'into', 'create', 'drop', 'alter', 'truncate', 'grant', 'revoke',
  'copy', 'set', 'reset', 'do', 'call', 'execute', 'prepare', 'lock', 'vacuum', 'analyze', 'cluster',
  'listen', 'notify', 'load', 'discard', 'begin', 'commit', 'rollback', 'savepoint', 'comment', 'security',
  'refresh', 'reindex', 'checkpoint', 'declare', 'fetch', 'move', 'close', 'import',
]);

/** Functions that reach outside the statement's own rows (files, sleeping, settings, other sessions). */
const FORBIDDEN_FUNCTION = /^(pg_|lo_|dblink|current_setting|set_config|query_to_xml|table_to_xml|database_to_xml|xpath|txid_|inet_|version$)/i;

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
      let j = i + 1;
      let text = '';
      for (;;) {
        if (j >= s.length) throw new SqlGuardError('Unterminated string literal');
        if (s[j] === "'" && s[j + 1] === "'") {
          text += "'";
          j += 2;
        } else if (s[j] === "'") break;
        else text += s[j++];
      }
      tokens.push({ kind: 'string', text });
      i = j + 1;
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
      // Dollar quoting could hide anything from this scanner; CKAN's users do not need it.
      throw new SqlGuardError('Dollar-quoted strings and parameters are not allowed');
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < s.length && /[A-Za-z0-9_$]/.test(s[j])) j++;
      tokens.push({ kind: 'word', text: s.slice(i, j) });
      i = j;
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
    body = body.replace(/;\s*$/, '');
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
