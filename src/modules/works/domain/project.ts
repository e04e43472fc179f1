import type { ProcurementMethod, Stage, WorkType } from './normalise';

export interface Contractor {
  name: string | null;
  cuit: string | null;
}

export interface Photo {
  url: string;
  caption: string | null;
  takenOn: string | null;
}

/** The BA Elige (participatory budgeting) project a work comes from. */
export interface BudgetRef {
  /** Its id there ("3/12" for /budgets/3/proposals/12 on this site), when the link says. */
  id: string | null;
  title: string | null;
  /** A path on this site (/budgets/…) or an absolute http(s) URL. */
  url: string;
}

export interface Amendment {
  date: string | null;
  extraAmount: number;
  extraMonths: number;
  reason: string;
}

/** A project as an import source describes it, before it is stored. */
export interface ProjectInput {
  /** The source's id, or a stable key derived from name, programme and address when there is none. */
  externalId: string;
  name: string;
  description: string;
  type: WorkType;
  rawType: string | null;
  programme: string | null;
  officeName: string | null;
  stage: Stage;
  progress: number | null;
  startDate: string | null;
  plannedEnd: string | null;
  currentPlannedEnd: string | null;
  actualEnd: string | null;
  durationMonths: number | null;
  communes: number[];
  neighbourhood: string | null;
  address: string | null;
  lat: number | null;
  lng: number | null;
  /**
   * Lines, areas and several points (GeoJSON) when the source has them; a single point goes in
   * lat/lng only. With a MultiPoint, lat/lng hold its first point (nearby works, list maps).
   */
  geometry: GeoJSON.Geometry | null;
  sites: number | null;
  workers: number | null;
  beneficiaries: string | null;
  funding: string | null;
  participatory: boolean;
  commitment: boolean;
  featured: boolean;
  procurementMethod: ProcurementMethod | null;
  procedureType: string | null;
  procedureNumber: string | null;
  tenderYear: number | null;
  contractors: Contractor[];
  contractAmount: number | null;
  currency: string;
  /** Number of bids received, when the source says (single-bidder flag). */
  bidders: number | null;
  fileNumber: string | null;
  tenderDocsUrl: string | null;
  environmentalStudyUrl: string | null;
  link: string | null;
  photos: Photo[];
  amendments: Amendment[];
  /** Left out (not null) when the source says nothing: the record's hash stays what it was, and a link the office set is kept. */
  pbRef?: BudgetRef;
  /** Why the progress goes down (a re-measurement, a scope change): without one, an import may not lower it. Left out when the source has none. */
  progressReason?: string;
}

export interface RejectedRow {
  line: number;
  reason: string;
  /** The row's id or name, to find it in the file. */
  ref?: string;
  /** The reason for the pages: `works.reject.<code>` with these params (the CLI prints `reason`). */
  code?: string;
  params?: Record<string, string | number>;
}

export interface ReadResult {
  projects: ProjectInput[];
  rejected: RejectedRow[];
  /** The line each project came from, for rejections found later (outside the city). */
  lines: Map<string, number>;
  /** What was detected, for the import report. */
  format: { encoding: string; delimiter: string; rows: number };
  /** Values of imported rows that could not be read and were left empty (`works.warn.<code>` on the pages). */
  warnings?: RejectedRow[];
}
