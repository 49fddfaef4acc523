/** The stand-in's routes, after auth, rate limit and faults: what each answers and writes. */
import { randomUUID } from 'node:crypto';
import { importBodySchema } from './import.ts';
import { listConnections, parseListQuery } from './list.ts';
import type { StandinState } from './state.ts';
import { listedJson, type StoredConnection } from './store.ts';
import type { AppliedWrite, Metadata } from './types.ts';
import {
  editBodySchema,
  genericErrorSupport,
  legacyUnknownConnection,
  metadataBodySchema,
  stdError,
  unknownConnection,
  zodIssues,
} from './wire.ts';

export type Route =
  | { kind: 'current'; method: 'PATCH' | 'POST' }
  | { kind: 'legacy'; method: 'PATCH' | 'POST'; rawId: string }
  | { kind: 'list' }
  | { kind: 'import' }
  | { kind: 'get'; rawId: string }
  | { kind: 'edit'; rawId: string };

export interface RouteRequest {
  route: Route;
  n: number;
  method: string;
  path: string;
  params: URLSearchParams;
  body: unknown;
  legacyId: string | undefined;
  providerConfigKey: string | undefined;
}

type SendJson = (status: number, body: unknown, extra?: Record<string, string>) => Promise<void>;

/** Nango's requireEmptyQuery: any query parameter is refused, before the body is looked at. */
function refuseQuery(params: URLSearchParams, sendJson: SendJson): Promise<void> | undefined {
  if ([...params.keys()].length === 0) return undefined;
  const errors = [...new Set(params.keys())].map((k) => ({
    code: 'unrecognized_keys',
    message: `Unrecognized key(s) in object: '${k}'`,
    path: [],
  }));
  return sendJson(400, stdError('invalid_query_params', { errors }));
}

/** Writes to several connections: atomic by default; read, wait, write in race mode. */
async function write(
  st: StandinState,
  n: number,
  route: AppliedWrite['route'],
  method: AppliedWrite['method'],
  conns: StoredConnection[],
  patch: Metadata,
) {
  const befores = conns.map((c) => (c.metadata === null ? null : structuredClone(c.metadata)));
  if (st.raceMode && method === 'PATCH') await st.sleep(st.raceDelayMs);
  if (st.closed) return;
  conns.forEach((c, i) => {
    st.store.apply(n, route, method, c, patch, befores[i] ?? null);
    st.counters.applied++;
  });
}

export async function serveRoute(st: StandinState, r: RouteRequest, sendJson: SendJson): Promise<void> {
  const { route, params, body } = r;
  switch (route.kind) {
    case 'current': {
      const refused = refuseQuery(params, sendJson);
      if (refused) return refused;
      const val = metadataBodySchema.safeParse(body);
      if (!val.success) return sendJson(400, stdError('invalid_body', { errors: zodIssues(val.error) }));
      const ids = Array.isArray(val.data.connection_id) ? val.data.connection_id : [val.data.connection_id];
      const pck = val.data.provider_config_key;
      const conns: StoredConnection[] = [];
      for (const id of ids) {
        const c = st.store.get(id, pck);
        if (!c) return sendJson(404, unknownConnection(id, pck, ids.length > 1));
        conns.push(c);
      }
      await write(st, r.n, 'current', route.method, conns, val.data.metadata);
      return sendJson(route.method === 'POST' ? 201 : 200, body);
    }
    case 'legacy': {
      const pck = r.providerConfigKey;
      if (pck === undefined || pck === '') return sendJson(500, genericErrorSupport(r.method, r.path));
      const c = st.store.get(r.legacyId!, pck);
      if (!c) return sendJson(404, legacyUnknownConnection(r.legacyId!, pck));
      // No validation: an array body spreads into {"0": ...}.
      await write(st, r.n, 'legacy', route.method, [c], { ...(body as object) } as Metadata);
      return sendJson(route.method === 'POST' ? 201 : 200, body);
    }
    case 'list': {
      const q = parseListQuery(params);
      if (!q.ok) return sendJson(400, stdError('invalid_query_params', { errors: q.errors }));
      return sendJson(200, { connections: listConnections(st.store.all(), q.query, st.listOrder).map(listedJson) });
    }
    case 'import': {
      const refused = refuseQuery(params, sendJson);
      if (refused) return refused;
      const val = importBodySchema.safeParse(body);
      if (!val.success) return sendJson(400, stdError('invalid_body', { errors: zodIssues(val.error) }));
      const b = val.data;
      const connectionId = b.connection_id ?? randomUUID();
      const existed = st.store.get(connectionId, b.provider_config_key);
      const c = st.store.put({
        connectionId,
        providerConfigKey: b.provider_config_key,
        metadata: b.metadata ?? {},
        ...(b.tags ? { tags: b.tags } : {}),
        ...(existed ? { provider: existed.provider, created: existed.created } : {}),
      });
      st.authWebhook(c, existed ? 'override' : 'creation', b.credentials.type);
      return sendJson(201, {
        ...listedJson(c),
        created_at: c.created,
        updated_at: c.updated,
        connection_config: b.connection_config ?? {},
        credentials: { type: b.credentials.type },
      });
    }
    case 'edit': {
      // Edits tags (and the deprecated end_user) and sends NO webhook: a re-tag is seen only by listing.
      const pck = r.providerConfigKey;
      if (!pck) {
        return sendJson(
          400,
          stdError('invalid_query_params', { errors: [{ code: 'invalid_type', message: 'Required', path: ['provider_config_key'] }] }),
        );
      }
      const val = editBodySchema.safeParse(body);
      if (!val.success) return sendJson(400, stdError('invalid_body', { errors: zodIssues(val.error) }));
      const c = st.store.get(r.legacyId!, pck);
      if (!c) return sendJson(404, unknownConnection(r.legacyId!, pck));
      if (val.data.tags !== undefined) {
        c.tags = val.data.tags;
        c.updated = new Date().toISOString();
      }
      return sendJson(200, { success: true });
    }
    case 'get': {
      const pck = r.providerConfigKey;
      if (!pck) {
        return sendJson(
          400,
          stdError('invalid_query_params', { errors: [{ code: 'invalid_type', message: 'Required', path: ['provider_config_key'] }] }),
        );
      }
      const c = st.store.get(r.legacyId!, pck);
      if (!c) return sendJson(404, unknownConnection(r.legacyId!, pck));
      return sendJson(200, { ...listedJson(c), created_at: c.created, updated_at: c.updated, connection_config: {} });
    }
  }
}
