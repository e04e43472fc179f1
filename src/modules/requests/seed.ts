import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import booleanPointInPolygon from '@turf/boolean-point-in-polygon';
import type { Services } from '../../core/services';
import type { SeedContext } from '../../core/manifest';
import { DATATYPES, attributeCodePattern, validateAnswers, type Answers, type AttributeDatatype, type AttributeValue } from './domain/attributes';
import type { CloseTimes } from './demo/close-times';
import { expectedAt, type RequestStatus } from './domain/status';
import { rqDb, saveAttribute, type RqDb } from './store';

interface CategoryFile {
  code: string;
  name: string;
  name_en?: string;
  group?: string;
  /** The SUACI subject it stands for (demo weights). */
  rubro?: string;
  /** Office slug. */
  office: string;
  target_days: number;
  keywords?: string;
  questions: Array<{ code: string; datatype: AttributeDatatype; required: boolean; description: string; description_en: string; values?: AttributeValue[] }>;
}

interface Weights {
  rubros: Record<string, number>;
  month_of_year: Record<string, number>;
  barrios: Record<string, number>;
}

interface Shapes {
  status_mix: Record<string, number>;
  answers: Record<string, string[]>;
  /** What residents write, with the answers to the category's questions that go with it. */
  descriptions: Record<string, Array<{ text: string; answers?: Answers }>>;
  /** By score, 1 to 5. */
  rating_comments: Record<string, string[]>;
}

/** A seeded generator: the demo city is the same on every machine. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function weighted<T>(rand: () => number, items: Array<[T, number]>): T {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let x = rand() * total;
  for (const [v, w] of items) if ((x -= w) <= 0) return v;
  return items[items.length - 1][0];
}

const norm = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toUpperCase().replace(/\s+/g, ' ').trim();

/**
 * Loads categories and their questions from a JSON file (the shape of data/demo/requests/categories.json):
 * new codes are added, existing ones updated; requests and other categories are left alone.
 */
export async function loadCategoriesFile(services: Services, file: string): Promise<CategoryFile[]> {
  const cats = JSON.parse(fs.readFileSync(file, 'utf8')) as CategoryFile[];
  if (!Array.isArray(cats) || cats.some((c) => !c || typeof c.code !== 'string' || !attributeCodePattern.test(c.code) || typeof c.name !== 'string' || !Number.isInteger(c.target_days))) {
    throw new Error(`${file}: expected an array of categories with code, name and target_days`);
  }
  for (const c of cats) {
    c.questions ??= [];
    for (const q of c.questions) {
      if (!attributeCodePattern.test(q.code) || !DATATYPES.includes(q.datatype)) throw new Error(`${file}: category ${c.code}: bad question ${JSON.stringify(q.code)}`);
    }
  }
  return upsertCategories(services, cats);
}

export function loadCategories(services: Services, demoDir: string): Promise<CategoryFile[]> {
  return loadCategoriesFile(services, path.join(demoDir, 'requests', 'categories.json'));
}

async function upsertCategories(services: Services, cats: CategoryFile[]): Promise<CategoryFile[]> {
  const db = rqDb(services);
  const offices = await services.db.selectFrom('offices').select(['id', 'slug']).execute();
  const officeId = new Map(offices.map((o) => [o.slug, o.id]));
  await db.transaction().execute(async (trx: RqDb) => {
    for (const c of cats) {
      const values = { code: c.code, name: c.name, name_en: c.name_en ?? null, description: '', description_en: null, group_name: c.group ?? null, keywords: c.keywords ?? null, office_id: officeId.get(c.office) ?? null, target_days: c.target_days, active: true };
      const row = await trx
        .insertInto('rq_services')
        .values(values)
        .onConflict((oc) => oc.column('code').doUpdateSet({ name: c.name, name_en: values.name_en, group_name: values.group_name, keywords: values.keywords, office_id: values.office_id, target_days: c.target_days }))
        .returning('id')
        .executeTakeFirstOrThrow();
      let pos = 0;
      for (const q of c.questions) await saveAttribute(trx, row.id, { ...q, values: q.values ?? [], position: pos++ });
    }
  });
  return cats;
}

/** Categories, then a few thousand requests spread the way SUACI demand spreads (idempotent). */
export async function seedRequests(services: Services, ctx: SeedContext, opts: { count?: number } = {}): Promise<void> {
  const db = rqDb(services);
  const cats = await loadCategories(services, ctx.demoDir);
  const existing = await db.selectFrom('rq_requests').select((eb) => eb.fn.countAll<number>().as('n')).where('source', '=', 'import').executeTakeFirstOrThrow();
  if (Number(existing.n) > 0) return ctx.log(`requests: demo requests already loaded (${existing.n})`);
  const hoods = await services.geo.neighbourhoods();
  if (!hoods.length) return ctx.log('requests: no neighbourhoods, skipping demo requests');
  const weights = JSON.parse(fs.readFileSync(path.join(ctx.demoDir, 'requests', 'suaci-weights.json'), 'utf8')) as Weights;
  const shapes = JSON.parse(fs.readFileSync(path.join(ctx.demoDir, 'requests', 'shapes.json'), 'utf8')) as Shapes;
  const closeTimes = JSON.parse(fs.readFileSync(path.join(ctx.demoDir, 'requests', 'close-times.json'), 'utf8')) as CloseTimes;
  // A demo file that does not answer its category's questions is a bug in the file: fail loudly.
  for (const c of cats) {
    for (const d of shapes.descriptions[c.code] ?? []) {
      const { errors } = validateAnswers(c.questions.map((q) => ({ ...q, values: q.values ?? [] })), d.answers ?? {});
      if (errors.length) throw new Error(`shapes.json: "${d.text}" (${c.code}): ${errors.map((e) => `${e.code} ${e.problem}`).join(', ')}`);
    }
  }
  const services_ = await db.selectFrom('rq_services').select(['id', 'code', 'office_id', 'target_days']).execute();
  const byCode = new Map(services_.map((s) => [s.code, s]));
  const resident = await services.db.selectFrom('users').select('id').where('email', '=', 'resident@demo.cabildo.test').executeTakeFirst();

  const rand = prng(20181);
  const avgBarrio = Object.values(weights.barrios).reduce((a, b) => a + b, 0) / Math.max(1, Object.keys(weights.barrios).length);
  const hoodWeights: Array<[(typeof hoods)[number], number]> = hoods.map((h) => [h, weights.barrios[norm(h.name)] ?? avgBarrio]);
  const catWeights: Array<[CategoryFile, number]> = cats.map((c) => [c, (c.rubro && weights.rubros[c.rubro]) || 1]);
  const monthWeights: Array<[number, number]> = Object.entries(weights.month_of_year).map(([m, w]) => [Number(m), w]);
  const statusMix = Object.entries(shapes.status_mix) as Array<[RequestStatus, number]>;
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const now = Date.now();
  const count = opts.count ?? 3000;
  const horizonDays = closeTimes.horizon_hours / 24;
  /**
   * Days to close. The NYC 311 samples (close-times.json) give, per kind of service, the share closed within
   * the first hours and those times, drawn from as they are; past that horizon the samples see nothing, so
   * the rest is a log-normal around the category's target (most on time, a long tail late).
   */
  const closeDays = (cat: CategoryFile) => {
    const fam = closeTimes.families[closeTimes.categories[cat.code]];
    if (fam && fam.at_risk > 0 && fam.quick_minutes.length && rand() < fam.closed_within_horizon / fam.at_risk) return pick(fam.quick_minutes) / 1440;
    return horizonDays + cat.target_days * Math.exp((rand() + rand() + rand() - 1.5) * 1.2) * 0.8;
  };

  type Row = { service: { id: number; code: string; office_id: number | null; target_days: number }; lat: number; lng: number; commune: number; hood: number; at: Date; status: RequestStatus; closedAt: Date | null; upvotes: number; author: number | null; said: { text: string; answers?: Answers } };
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    const cat = weighted(rand, catWeights);
    const service = byCode.get(cat.code)!;
    const hood = weighted(rand, hoodWeights);
    let lat = 0;
    let lng = 0;
    for (let k = 0; k < 40; k++) {
      lng = hood.bbox[0] + rand() * (hood.bbox[2] - hood.bbox[0]);
      lat = hood.bbox[1] + rand() * (hood.bbox[3] - hood.bbox[1]);
      if (booleanPointInPolygon([lng, lat], hood.geometry)) break;
    }
    // A month of the last year weighted by SUACI's seasonality, then a day in it.
    const month = weighted(rand, monthWeights);
    const d = new Date(now);
    let monthsBack = (d.getUTCMonth() + 1 - month + 12) % 12;
    if (monthsBack === 0 && rand() < 0.5) monthsBack = 0;
    const at = new Date(now - monthsBack * 30.4 * 86400_000 - rand() * 30 * 86400_000);
    if (at.getTime() > now) at.setTime(now - rand() * 86400_000);
    const ageDays = (now - at.getTime()) / 86400_000;
    let status = weighted(rand, statusMix);
    if (ageDays < 2) status = 'submitted';
    let closedAt: Date | null = null;
    if (status === 'solved' || status === 'not_solvable' || status === 'merged') {
      closedAt = new Date(at.getTime() + Math.min(ageDays, closeDays(cat)) * 86400_000);
    }
    const upvotes = Math.floor(-Math.log(1 - rand() * 0.999) * 2);
    const said = pick(shapes.descriptions[cat.code] ?? [{ text: '' }]);
    rows.push({ service, lat, lng, commune: hood.commune_id!, hood: hood.id, at, status, closedAt, upvotes, author: resident && rand() < 0.08 ? resident.id : null, said });
  }
  rows.sort((a, b) => a.at.getTime() - b.at.getTime());

  await db.transaction().execute(async (trx: RqDb) => {
    const ids: number[] = [];
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      const inserted = await trx
        .insertInto('rq_requests')
        .values(
          chunk.map((r) => ({
            token: crypto.randomBytes(12).toString('base64url'),
            service_id: r.service.id,
            office_id: r.service.office_id,
            status: r.status,
            status_notes: null,
            description: r.said.text,
            answers: JSON.stringify(r.said.answers ?? {}),
            lat: r.lat,
            lng: r.lng,
            commune_id: r.commune,
            neighbourhood_id: r.hood,
            author_id: r.author,
            upvotes: r.upvotes,
            source: 'import',
            requested_at: r.at,
            updated_at: r.closedAt ?? r.at,
            closed_at: r.closedAt,
            expected_at: expectedAt(r.at, r.service.target_days),
          })),
        )
        .returning('id')
        .execute();
      ids.push(...inserted.map((x) => x.id));
    }
    const updates: Array<{ request_id: number; at: Date; kind: 'created' | 'status' | 'merge'; status: RequestStatus | null; public: boolean; text: string }> = [];
    const ratings: Array<{ request_id: number; user_id: number; score: number; comment: string }> = [];
    const lastOpen = new Map<number, number>();
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const id = ids[i];
      updates.push({ request_id: id, at: r.at, kind: 'created', status: 'submitted', public: true, text: '' });
      const steps: RequestStatus[] = [];
      if (r.status !== 'submitted' && r.status !== 'merged') steps.push('acknowledged');
      if (r.status === 'in_progress' || (r.status === 'solved' && rand() < 0.6)) steps.push('in_progress');
      const end = r.closedAt ?? new Date(Math.min(now, r.at.getTime() + 2 * 86400_000));
      steps.forEach((s, k) => updates.push({ request_id: id, at: new Date(r.at.getTime() + ((k + 1) / (steps.length + 1)) * (end.getTime() - r.at.getTime())), kind: 'status', status: s, public: true, text: pick(shapes.answers[s] ?? ['']) }));
      if (r.status === 'merged') {
        const target = lastOpen.get(r.service.id);
        if (target) {
          await trx.updateTable('rq_requests').set({ merged_into_id: target, status_notes: `#${target}` }).where('id', '=', id).execute();
          updates.push({ request_id: id, at: r.closedAt!, kind: 'status', status: 'merged', public: true, text: `#${target}` });
        } else {
          await trx.updateTable('rq_requests').set({ status: 'submitted', closed_at: null }).where('id', '=', id).execute();
        }
      } else if (r.closedAt) {
        const text = pick(shapes.answers[r.status] ?? ['']);
        await trx.updateTable('rq_requests').set({ status_notes: text }).where('id', '=', id).execute();
        updates.push({ request_id: id, at: r.closedAt, kind: 'status', status: r.status, public: true, text });
        if (r.author && rand() < 0.6) {
          // Solved on time rates best, solved late less, "not solvable" worst.
          const onTime = r.closedAt.getTime() <= expectedAt(r.at, r.service.target_days).getTime();
          const score = r.status === 'solved' ? (onTime ? 4 : 2) + Math.floor(rand() * 2) : 1 + Math.floor(rand() * 2);
          const comment = rand() < 0.7 ? pick(shapes.rating_comments[String(score)] ?? ['']) : '';
          ratings.push({ request_id: id, user_id: r.author, score, comment });
        }
      } else {
        lastOpen.set(r.service.id, id);
      }
    }
    for (let i = 0; i < updates.length; i += 1000) await trx.insertInto('rq_updates').values(updates.slice(i, i + 1000)).execute();
    if (ratings.length) await trx.insertInto('rq_ratings').values(ratings).execute();
    if (resident) {
      const mine = ids.filter((_, i) => rows[i].author === resident.id);
      if (mine.length) await trx.insertInto('rq_followers').values(mine.map((request_id) => ({ request_id, user_id: resident.id }))).onConflict((oc) => oc.doNothing()).execute();
    }
  });
  ctx.log(`requests: ${cats.length} categories, ${rows.length} demo requests`);
}
