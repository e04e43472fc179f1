import type { ColumnType, Generated, Selectable } from 'kysely';
import type { Json, NullableTimestamp, Timestamp } from '../../core/db/schema';

export type DatasetStatus = 'draft' | 'review' | 'published';

/** A data dictionary entry, as CKAN's DataStore keeps it (`info` holds the human part). */
export interface DictionaryField {
  id: string;
  type: string;
  info?: { label?: string; notes?: string; unit?: string; type_override?: string };
}

export interface OdThemesTable {
  id: string;
  name: string;
  title: string;
  description: ColumnType<string, string | undefined, string>;
  image_url: ColumnType<string, string | undefined, string>;
  created_at: Generated<Date>;
  state: ColumnType<'active' | 'deleted', 'active' | 'deleted' | undefined, 'active' | 'deleted'>;
}

type Text = ColumnType<string, string | undefined, string>;

export interface OdDatasetsTable {
  id: string;
  name: string;
  title: string;
  notes: Text;
  office_id: number;
  status: ColumnType<DatasetStatus, DatasetStatus | undefined, DatasetStatus>;
  state: ColumnType<'active' | 'deleted', 'active' | 'deleted' | undefined, 'active' | 'deleted'>;
  license_id: Text;
  license_title: Text;
  license_url: Text;
  author: Text;
  author_email: Text;
  maintainer: Text;
  maintainer_email: Text;
  url: Text;
  version: Text;
  accrual_periodicity: Text;
  temporal: Text;
  spatial: Text;
  language: ColumnType<string[], string[] | undefined, string[]>;
  issued: NullableTimestamp;
  modified: NullableTimestamp;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  themes: ColumnType<string[], string[] | undefined, string[]>;
  extras: Json<Array<{ key: string; value: string }>>;
  source: string | null;
  views: Generated<number>;
  downloads: Generated<number>;
  search_vector: ColumnType<string, never, never>;
  /** Upper-case formats of the active resources, kept by a trigger on od_resources. */
  res_formats: ColumnType<string[], never, never>;
  creator_user_id: number | null;
  metadata_created: Timestamp;
  metadata_modified: Timestamp;
}

export interface OdResourcesTable {
  id: string;
  dataset_id: string;
  position: Generated<number>;
  name: Text;
  description: Text;
  format: Text;
  mimetype: string | null;
  url: Text;
  url_type: string | null;
  file_id: string | null;
  size: number | null;
  hash: Text;
  state: Text;
  fields: Json<DictionaryField[]>;
  datastore_active: Generated<boolean>;
  extras: Json<Record<string, unknown>>;
  downloads: Generated<number>;
  created: Timestamp;
  last_modified: NullableTimestamp;
}

export interface OdResourceVersionsTable {
  id: Generated<number>;
  resource_id: string;
  version: number;
  file_id: string | null;
  url: string;
  format: Text;
  size: number | null;
  hash: Text;
  created_by: number | null;
  created_at: Generated<Date>;
}

export interface OdDatastoreTable {
  resource_id: string;
  fields: Json<DictionaryField[]>;
  row_count: number;
  encoding: Text;
  delimiter: Text;
  loaded_at: Timestamp;
  primary_key: ColumnType<string[], string[] | undefined, string[]>;
  /** The table's `_full_text` column is complete and indexed (datastore_search's q uses it). */
  full_text: Generated<boolean>;
}

export interface OdCatalogueVersionTable {
  id: number;
  version: number;
}

export type OpenDataTables = {
  od_catalogue_version: OdCatalogueVersionTable;
  od_themes: OdThemesTable;
  od_datasets: OdDatasetsTable;
  od_resources: OdResourcesTable;
  od_resource_versions: OdResourceVersionsTable;
  od_datastore: OdDatastoreTable;
};

export type DatasetRow = Selectable<OdDatasetsTable>;
export type ResourceRow = Selectable<OdResourcesTable>;
export type ThemeRow = Selectable<OdThemesTable>;
