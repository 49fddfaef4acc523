/** What the Nango stand-in saw, summed the way the report needs it. Pure. */
import type { RecordedRequest } from '../local/standins/nango.ts';

export interface NangoCalls {
  total: number;
  /** GET /connections (the list endpoint, paged). */
  list: number;
  patch: number;
  /** Any other GET (GET /connections/{id} would return credentials and may refresh them). */
  get: number;
  other: number;
  rateLimited: number;
}

export function nangoCalls(requests: readonly RecordedRequest[], from = 0): NangoCalls {
  const c: NangoCalls = { total: 0, list: 0, patch: 0, get: 0, other: 0, rateLimited: 0 };
  for (const r of requests) {
    if (r.startedAt < from) continue;
    c.total++;
    if (r.status === 429) c.rateLimited++;
    if (r.method === 'GET' && r.path === '/connections') c.list++;
    else if (r.method === 'GET') c.get++;
    else if (r.method === 'PATCH') c.patch++;
    else c.other++;
  }
  return c;
}

/** The time the last request was answered, or `from` when none was. */
export const lastAnswer = (requests: readonly RecordedRequest[], from: number): number =>
  requests.reduce((m, r) => (r.startedAt >= from && r.endedAt && r.endedAt > m ? r.endedAt : m), from);

export function percentiles(xs: readonly number[]): { n: number; p50: number; p95: number; max: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]! : Number.NaN);
  return {
    n: s.length,
    p50: at(0.5),
    p95: at(0.95),
    max: s.at(-1) ?? Number.NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN,
  };
}

/** Requests started per bucket of `bucketMs` from `from`: where a rate-limited drain waited. */
export function timeline(requests: readonly RecordedRequest[], from: number, bucketMs: number): number[] {
  const out: number[] = [];
  for (const r of requests) {
    if (r.startedAt < from) continue;
    const i = Math.floor((r.startedAt - from) / bucketMs);
    while (out.length <= i) out.push(0);
    out[i]!++;
  }
  return out;
}
