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
  /** Lines and areas (GeoJSON) when the source has them; points go in lat/lng. */
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
}

export interface RejectedRow {
  line: number;
  reason: string;
  /** The row's id or name, to find it in the file. */
  ref?: string;
}

export interface ReadResult {
  projects: ProjectInput[];
  rejected: RejectedRow[];
  /** The line each project came from, for rejections found later (outside the city). */
  lines: Map<string, number>;
  /** What was detected, for the import report. */
  format: { encoding: string; delimiter: string; rows: number };
}
