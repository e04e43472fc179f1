import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { CoreTables } from '../../core/db/schema';
import type { RequestStatus } from './domain/status';
import type { AttributeDatatype, AttributeValue } from './domain/attributes';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

/** A category residents report under; Open311 calls it a service. */
export interface RqServicesTable {
  id: Generated<number>;
  code: string;
  name: string;
  name_en: string | null;
  description: ColumnType<string, string | undefined, string>;
  description_en: string | null;
  group_name: string | null;
  keywords: string | null;
  office_id: number | null;
  target_days: ColumnType<number, number | undefined, number>;
  active: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: Generated<Date>;
  /** Bumped by the database on any change to the category or its questions (migration 0002). */
  revision: ColumnType<number, never, never>;
}

/** A question the category asks (Open311 attribute). */
export interface RqAttributesTable {
  id: Generated<number>;
  service_id: number;
  code: string;
  datatype: AttributeDatatype;
  required: ColumnType<boolean, boolean | undefined, boolean>;
  description: string;
  description_en: string | null;
  values: JSONColumnType<AttributeValue[], string | undefined, string>;
  position: ColumnType<number, number | undefined, number>;
}

export interface RqRequestsTable {
  id: Generated<number>;
  token: string;
  service_id: number;
  office_id: number | null;
  status: ColumnType<RequestStatus, RequestStatus | undefined, RequestStatus>;
  status_notes: string | null;
  description: ColumnType<string, string | undefined, string>;
  address: string | null;
  lat: number | null;
  lng: number | null;
  commune_id: number | null;
  neighbourhood_id: number | null;
  author_id: number | null;
  author_email: string | null;
  author_name: string | null;
  anonymous: ColumnType<boolean, boolean | undefined, boolean>;
  answers: JSONColumnType<Record<string, string | string[]>, string | undefined, string>;
  media_url: string | null;
  upvotes: ColumnType<number, number | undefined, number>;
  merged_into_id: number | null;
  source: ColumnType<string, string | undefined, string>;
  requested_at: Timestamp;
  updated_at: Timestamp;
  closed_at: NullableTimestamp;
  expected_at: NullableTimestamp;
}

export interface RqPhotosTable {
  id: Generated<number>;
  request_id: number;
  file_id: string;
  position: number;
}

export type UpdateKind = 'created' | 'status' | 'answer' | 'note' | 'merge' | 'reassign';

/** The request's timeline: status changes, public answers and internal notes. */
export interface RqUpdatesTable {
  id: Generated<number>;
  request_id: number;
  at: Timestamp;
  kind: UpdateKind;
  status: RequestStatus | null;
  public: boolean;
  text: ColumnType<string, string | undefined, string>;
  author_id: number | null;
}

export interface RqUpvotesTable {
  request_id: number;
  user_id: number;
  at: Generated<Date>;
}

export interface RqFollowersTable {
  request_id: number;
  user_id: number;
}

export interface RqRatingsTable {
  request_id: number;
  /** Null: an Open311 author without an account, through the signed link (migration 0003). */
  user_id: number | null;
  score: number;
  comment: ColumnType<string, string | undefined, string>;
  at: Generated<Date>;
}

export interface RequestsTables extends CoreTables {
  rq_services: RqServicesTable;
  rq_attributes: RqAttributesTable;
  rq_requests: RqRequestsTable;
  rq_photos: RqPhotosTable;
  rq_updates: RqUpdatesTable;
  rq_upvotes: RqUpvotesTable;
  rq_followers: RqFollowersTable;
  rq_ratings: RqRatingsTable;
}
