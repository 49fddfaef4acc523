/**
 * GET /connections as Nango's controller has it: a strict query schema (unknown parameters and bad
 * values are 400 invalid_query_params), `tags[key]=value` read the way Express's query parser reads
 * it, every filter ANDed, newest connection first, and offset paging with a 0-based `page`.
 */
import * as z from 'zod';
import type { StoredConnection } from './store.ts';
import { tagsSchema, zodIssues, type ValidationIssue } from './wire.ts';

/** When no limit is given: 10,000, the default Nango's list controller names where it names one. */
export const DEFAULT_LIST_LIMIT = 10_000;

const querySchema = z.strictObject({
  connectionId: z.string().min(1).max(255).optional(),
  search: z.string().min(1).max(255).optional(),
  endUserId: z.string().min(1).max(255).optional(),
  integrationId: z.string().min(1).optional(),
  endUserOrganizationId: z.string().min(1).max(255).optional(),
  tags: tagsSchema.optional(),
  limit: z.coerce.number().min(1).max(2000).optional(),
  page: z.coerce.number().min(0).optional(),
});
export type ListQuery = z.output<typeof querySchema>;

/** URLSearchParams to the object Express's parser (qs) builds: `tags[k]=v` nests, a repeated name becomes an array. */
function qsLike(params: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  const put = (into: Record<string, unknown>, k: string, v: string) => {
    const old = into[k];
    into[k] = old === undefined ? v : Array.isArray(old) ? [...old, v] : [old, v];
  };
  for (const [k, v] of params) {
    const m = /^([^[\]]+)\[([^[\]]*)\]$/.exec(k);
    if (m) {
      const outer = out[m[1]!];
      const nested: Record<string, unknown> =
        outer && typeof outer === 'object' && !Array.isArray(outer) ? (outer as Record<string, unknown>) : Object.create(null);
      put(nested, m[2]!, v);
      out[m[1]!] = nested;
    } else put(out, k, v);
  }
  return out;
}

export function parseListQuery(params: URLSearchParams): { ok: true; query: ListQuery } | { ok: false; errors: ValidationIssue[] } {
  const plain = Object.fromEntries(
    Object.entries(qsLike(params)).map(([k, v]) => [k, v && typeof v === 'object' && !Array.isArray(v) ? { ...v } : v]),
  );
  const r = querySchema.safeParse(plain);
  return r.success ? { ok: true, query: r.data } : { ok: false, errors: zodIssues(r.error) };
}

export function listConnections(
  all: StoredConnection[],
  q: ListQuery,
  order: 'newest-first' | 'oldest-first' = 'newest-first',
): StoredConnection[] {
  const integrations = q.integrationId?.split(',').map((s) => s.trim());
  const search = q.search?.toLowerCase();
  const matching = all.filter(
    (c) =>
      (q.connectionId === undefined || c.connectionId === q.connectionId) &&
      (integrations === undefined || integrations.includes(c.providerConfigKey)) &&
      (search === undefined || c.connectionId.toLowerCase().includes(search)) &&
      // No end users in the stand-in: a filter on one matches nothing.
      q.endUserId === undefined &&
      q.endUserOrganizationId === undefined &&
      Object.entries(q.tags ?? {}).every(([k, v]) => c.tags[k] === v),
  );
  // Newest first, as Nango lists them (ids follow creation).
  matching.sort((a, b) => (order === 'newest-first' ? b.id - a.id : a.id - b.id));
  const limit = q.limit ?? DEFAULT_LIST_LIMIT;
  const offset = Math.floor(q.page ?? 0) * limit;
  return matching.slice(offset, offset + limit);
}
