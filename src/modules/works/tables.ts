import type { ColumnType, Generated, JSONColumnType, Selectable } from 'kysely';
import type { Contractor } from './domain/project';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface ProgrammesTable {
  id: Generated<number>;
  slug: string;
  name: string;
  description: ColumnType<string, string | undefined, string>;
  archived: ColumnType<boolean, boolean | undefined, boolean>;
  parent_id: number | null;
  created_at: Generated<Date>;
}

export interface ProjectsTable {
  id: Generated<number>;
  external_id: string;
  name: string;
  description: string;
  type: string;
  raw_type: string | null;
  programme_id: number | null;
  office_id: number | null;
  office_name: string | null;
  stage: string;
  progress: number | null;
  start_date: string | null;
  planned_end: string | null;
  current_planned_end: string | null;
  actual_end: string | null;
  duration_months: number | null;
  communes: ColumnType<number[], number[] | undefined, number[]>;
  commune_id: number | null;
  neighbourhood: string | null;
  address: string | null;
  lat: number | null;
  lng: number | null;
  geometry: JSONColumnType<GeoJSON.Geometry | null, string | null, string | null>;
  sites: number | null;
  workers: number | null;
  beneficiaries: string | null;
  funding: string | null;
  participatory: boolean;
  commitment: boolean;
  featured: boolean;
  procurement_method: string | null;
  procedure_type: string | null;
  procedure_number: string | null;
  tender_year: number | null;
  contractors: JSONColumnType<Contractor[], string, string>;
  contractor_name: string | null;
  contractor_cuit: string | null;
  contract_amount: number | null;
  currency: string;
  bidders: number | null;
  file_number: string | null;
  tender_docs_url: string | null;
  environmental_study_url: string | null;
  link: string | null;
  extra_amount: ColumnType<number, number | undefined, number>;
  extra_months: ColumnType<number, number | undefined, number>;
  source_hash: string | null;
  last_progress_at: NullableTimestamp;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface AmendmentsTable {
  id: Generated<number>;
  project_id: number;
  date: string | null;
  extra_amount: number;
  extra_months: number;
  reason: string;
}

export interface ProgressTable {
  id: Generated<number>;
  project_id: number;
  at: Timestamp;
  progress: number;
  stage: string;
  note: string;
  created_by: number | null;
}

export interface PhotosTable {
  id: Generated<number>;
  project_id: number;
  progress_id: number | null;
  file_id: string | null;
  url: string | null;
  caption: string | null;
  taken_on: string | null;
  source: string;
  position: number;
}

export type WorksTables = {
  works_programmes: ProgrammesTable;
  works_projects: ProjectsTable;
  works_amendments: AmendmentsTable;
  works_progress: ProgressTable;
  works_photos: PhotosTable;
};

export type ProjectRow = Selectable<ProjectsTable>;
export type ProgrammeRow = Selectable<ProgrammesTable>;
