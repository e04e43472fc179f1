import type { Services } from '../../core/services';
import { systemActor, type Actor } from '../../core/audit';
import { readBaObrasCsv, FileError } from './domain/csv';
import { fromOc4idsPackage, Oc4idsError } from './domain/oc4ids';
import { importProjects, summaryLine, type ImportSummary } from './store';
import type { RejectedRow } from './domain/project';

export class ImportError extends Error {
  constructor(
    message: string,
    /** For the pages: `works.importError.<code>` with these params (the CLI prints the message). */
    readonly code?: string,
    readonly params: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

/** Two imports racing on the same new ids: the loser's transaction rolls back whole. */
function concurrent(err: unknown): boolean {
  return (err as { code?: string })?.code === '23505';
}

/** Imports a BA Obras CSV (any vintage) or an OC4IDS JSON package, whichever the bytes are. */
export async function importFile(
  services: Services,
  buf: Buffer,
  name: string,
  actor: Actor = systemActor,
  allowedOfficeIds?: number[],
): Promise<ImportSummary & { line: string; warnings: RejectedRow[] }> {
  const looksJson = /\.json$/i.test(name) || /^\s*[{[]/.test(buf.subarray(0, 64).toString('utf8'));
  let summary: ImportSummary;
  let warnings: RejectedRow[] = [];
  if (looksJson) {
    let pkg: unknown;
    try {
      pkg = JSON.parse(buf.toString('utf8'));
    } catch (err) {
      throw new ImportError(`not valid JSON: ${(err as Error).message}`, 'json', { detail: (err as Error).message });
    }
    try {
      summary = await importProjects(services, fromOc4idsPackage(pkg), { actorId: actor.id, allowedOfficeIds });
    } catch (err) {
      if (err instanceof Oc4idsError) throw new ImportError(err.message, 'oc4ids', { detail: err.message });
      if (concurrent(err)) throw new ImportError('another import changed the same projects at the same time; nothing was stored, try again', 'concurrent');
      throw err;
    }
  } else {
    let read;
    try {
      read = readBaObrasCsv(buf);
    } catch (err) {
      if (err instanceof FileError) throw new ImportError(err.message, err.code, err.params);
      throw err;
    }
    try {
      summary = await importProjects(services, read.projects, { actorId: actor.id, rejected: read.rejected, allowedOfficeIds, lines: read.lines });
      warnings = read.warnings ?? [];
    } catch (err) {
      if (concurrent(err)) throw new ImportError('another import changed the same projects at the same time; nothing was stored, try again', 'concurrent');
      throw err;
    }
  }
  summary.rejected.sort((a, b) => a.line - b.line);
  // A row the store rejected afterwards (office, archived programme, outside the city) is reported once, as rejected.
  const rejectedLines = new Set(summary.rejected.map((r) => r.line));
  warnings = warnings.filter((w) => !rejectedLines.has(w.line));
  await services.audit.record(
    actor,
    { action: 'works.import', subjectType: 'works_import', subjectId: name, officeId: null, details: { imported: summary.imported, updated: summary.updated, rejected: summary.rejected.length, warnings: warnings.length } },
  );
  return { ...summary, warnings, line: summaryLine(summary) };
}
