import type { ColumnType, Generated, JSONColumnType } from 'kysely';

/** Timestamps come back from both engines as Date; we insert Date or leave the default. */
export type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
export type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
export type Json<T extends object | null> = JSONColumnType<T, T | string, T | string>;

/** The roles an account can hold besides being a resident (which every account is). */
export type Role = 'official' | 'moderator' | 'admin';

export interface UsersTable {
  id: Generated<number>;
  email: string;
  password_hash: string | null;
  name: ColumnType<string, string | undefined, string>;
  locale: ColumnType<string, string | undefined, string>;
  roles: ColumnType<Role[], Role[] | undefined, Role[]>;
  email_confirmed_at: NullableTimestamp;
  verified_at: NullableTimestamp;
  /** Commune from the census, set at verification: later modules use it for voting rights. */
  commune_id: number | null;
  /** Keyed hash of the census document the account verified with (unique among verified accounts). */
  document_hash: string | null;
  birth_year: number | null;
  gender: string | null;
  oidc_subject: string | null;
  disabled_at: NullableTimestamp;
  created_at: Generated<Date>;
}

export interface SessionsTable {
  id: string; // sha256 of the cookie value
  user_id: number;
  created_at: Generated<Date>;
  expires_at: Date;
  ip: string | null;
  user_agent: string | null;
}

export interface EmailTokensTable {
  id: string; // sha256 of the token
  user_id: number;
  purpose: 'confirm' | 'reset';
  expires_at: Date;
  used_at: NullableTimestamp;
  created_at: Generated<Date>;
}

export type OfficeKind = 'ministry' | 'secretariat' | 'agency' | 'commune' | 'judiciary' | 'legislature' | 'other';

export interface OfficesTable {
  id: Generated<number>;
  slug: string;
  name: string;
  kind: OfficeKind;
  parent_id: number | null;
  commune_id: number | null;
  description: ColumnType<string, string | undefined, string>;
  email: string | null;
  url: string | null;
  created_at: Generated<Date>;
}

export type OfficeRole = 'editor' | 'admin';

export interface OfficeMembersTable {
  office_id: number;
  user_id: number;
  /** editor: works for the office; admin: also approves what the office publishes. */
  role: ColumnType<OfficeRole, OfficeRole | undefined, OfficeRole>;
  created_at: Generated<Date>;
}

export interface OrganizationsTable {
  id: Generated<number>;
  slug: string;
  name: string;
  description: string;
  url: string | null;
  email: string | null;
  created_at: Generated<Date>;
}

export interface OrganizationMembersTable {
  organization_id: number;
  user_id: number;
  created_at: Generated<Date>;
}

export interface CensusRecordsTable {
  /** HMAC-SHA256 of the normalised document number, keyed by the instance secret. */
  document_hash: string;
  date_of_birth: string; // YYYY-MM-DD, kept as text so both engines return the same thing
  commune_id: number;
  gender: string | null;
  imported_at: Generated<Date>;
}

export interface VerificationAttemptsTable {
  id: Generated<number>;
  user_id: number;
  ip: string | null;
  success: boolean;
  at: Generated<Date>;
}

export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  token_hash: string;
  prefix: string;
  created_at: Generated<Date>;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: Generated<Date>;
  actor_id: number | null;
  actor_email: string | null;
  ip: string | null;
  action: string;
  subject_type: string;
  subject_id: string | null;
  office_id: number | null;
  details: Json<Record<string, unknown>>;
}

export interface MailOutboxTable {
  id: Generated<number>;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string | null;
  created_at: Generated<Date>;
  sent_at: NullableTimestamp;
  attempts: Generated<number>;
  last_error: string | null;
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface JobsTable {
  id: Generated<number>;
  kind: string;
  payload: Json<Record<string, unknown>>;
  status: Generated<JobStatus>;
  progress: Generated<number>; // 0..1
  log: Json<string[]>;
  error: string | null;
  result: Json<Record<string, unknown>> | null;
  attempts: Generated<number>;
  run_at: Generated<Date>;
  locked_by: string | null;
  locked_at: NullableTimestamp;
  created_by: number | null;
  created_at: Generated<Date>;
  finished_at: NullableTimestamp;
}

export interface FilesTable {
  id: string; // random, also the storage key
  original_name: string;
  content_type: string;
  size: number;
  sha256: string;
  width: number | null;
  height: number | null;
  created_by: number | null;
  created_at: Generated<Date>;
}

export interface CommunesTable {
  id: number; // 1..15
  name: string;
  population: number;
  area_m2: number;
  geometry: Json<GeoJSON.Geometry>;
}

export interface NeighbourhoodsTable {
  id: Generated<number>;
  slug: string;
  name: string;
  commune_id: number;
  population: number;
  area_m2: number;
  geometry: Json<GeoJSON.Geometry>;
}

export interface SettingsTable {
  key: string;
  value: ColumnType<unknown, string, string>;
}

export interface CoreTables {
  users: UsersTable;
  sessions: SessionsTable;
  email_tokens: EmailTokensTable;
  offices: OfficesTable;
  office_members: OfficeMembersTable;
  organizations: OrganizationsTable;
  organization_members: OrganizationMembersTable;
  census_records: CensusRecordsTable;
  verification_attempts: VerificationAttemptsTable;
  api_tokens: ApiTokensTable;
  audit_log: AuditLogTable;
  mail_outbox: MailOutboxTable;
  jobs: JobsTable;
  files: FilesTable;
  communes: CommunesTable;
  neighbourhoods: NeighbourhoodsTable;
  settings: SettingsTable;
}
