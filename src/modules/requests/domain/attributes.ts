/** A category's own questions, validated the way Open311 defines attributes. */
export const DATATYPES = ['string', 'number', 'datetime', 'text', 'singlevaluelist', 'multivaluelist'] as const;
export type AttributeDatatype = (typeof DATATYPES)[number];

export interface AttributeValue {
  key: string;
  name: string;
  name_en?: string;
}

export interface AttributeDefinition {
  code: string;
  datatype: AttributeDatatype;
  required: boolean;
  description: string;
  values: AttributeValue[];
}

export type Answers = Record<string, string | string[]>;

export interface AnswerError {
  code: string;
  problem: 'required' | 'not_a_number' | 'not_a_date' | 'not_an_option' | 'too_long';
}

/**
 * Keeps only the answers to the category's questions, normalised, and lists what is wrong.
 * Unknown codes are dropped rather than rejected: Open311 clients often send every field they know.
 */
export function validateAnswers(defs: AttributeDefinition[], raw: Record<string, string | string[] | undefined>): { answers: Answers; errors: AnswerError[] } {
  const answers: Answers = {};
  const errors: AnswerError[] = [];
  for (const d of defs) {
    const v = raw[d.code];
    const list = (Array.isArray(v) ? v : v === undefined ? [] : [v]).map((s) => String(s).trim()).filter((s) => s !== '');
    if (list.length === 0) {
      if (d.required) errors.push({ code: d.code, problem: 'required' });
      continue;
    }
    const keys = new Set(d.values.map((x) => x.key));
    switch (d.datatype) {
      case 'number': {
        const n = Number(list[0].replace(',', '.'));
        if (!Number.isFinite(n)) errors.push({ code: d.code, problem: 'not_a_number' });
        else answers[d.code] = String(n);
        break;
      }
      case 'datetime': {
        const t = Date.parse(list[0]);
        if (Number.isNaN(t)) errors.push({ code: d.code, problem: 'not_a_date' });
        else answers[d.code] = new Date(t).toISOString();
        break;
      }
      case 'singlevaluelist':
        if (list.length !== 1 || !keys.has(list[0])) errors.push({ code: d.code, problem: 'not_an_option' });
        else answers[d.code] = list[0];
        break;
      case 'multivaluelist': {
        const all = [...new Set(list.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))];
        if (all.some((k) => !keys.has(k))) errors.push({ code: d.code, problem: 'not_an_option' });
        else answers[d.code] = all;
        break;
      }
      default:
        if (list[0].length > 2000) errors.push({ code: d.code, problem: 'too_long' });
        else answers[d.code] = list[0];
    }
  }
  return { answers, errors };
}

/**
 * Open311 clients send answers as `attribute[code]=value` (and `attribute[code][]=v` for
 * multi-value lists); forms may also repeat a field. Collects them by code.
 */
export function attributesFromForm(body: Record<string, unknown>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(body)) {
    const m = /^attribute\[([^\]]+)\](\[\])?$/.exec(k);
    if (!m) continue;
    const vals = (Array.isArray(v) ? v : [v]).map(String);
    const prev = out[m[1]];
    const merged = prev === undefined ? vals : [...(Array.isArray(prev) ? prev : [prev]), ...vals];
    out[m[1]] = merged.length === 1 && !m[2] ? merged[0] : merged;
  }
  return out;
}

export const attributeCodePattern = /^[a-z0-9_-]{1,40}$/i;
