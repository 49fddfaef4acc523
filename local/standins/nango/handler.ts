/**
 * One request to the Nango stand-in, in the real server's order: route (Express's HTML 404 before
 * auth), body limit, auth, rate limit, scope, JSON body, fault hook, then the route itself.
 */
import type http from 'node:http';
import { answerFault } from './answer-fault.ts';
import { maskCredentials } from './import.ts';
import { serveRoute, type Route } from './routes.ts';
import type { StandinState } from './state.ts';
import { keyOf, listedJson } from './store.ts';
import type { RecordedRequest, SeedConnection } from './types.ts';
import { AUTH_MESSAGES, authError, expressNotFound, isUuidV4, stdError, tooManyRequests } from './wire.ts';

const BODY_LIMIT = 75 * 1024 * 1024;
const RECORD_BODY_MAX = 1024 * 1024;
const JSON_TYPE = 'application/json; charset=utf-8';
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Express-like routing on the raw path: one segment per parameter, a single trailing slash tolerated. */
function matchRoute(method: string, rawPath: string): Route | undefined {
  const p = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath;
  const seg = p.split('/').slice(1);
  const write = method === 'PATCH' || method === 'POST' ? method : undefined;
  if (write && seg.length === 2 && seg[0] === 'connections' && seg[1] === 'metadata') return { kind: 'current', method: write };
  if (write && seg.length === 3 && seg[0] === 'connection' && seg[2] === 'metadata' && seg[1]) {
    return { kind: 'legacy', method: write, rawId: seg[1] };
  }
  if (method === 'GET' && seg.length === 1 && seg[0] === 'connections') return { kind: 'list' };
  if (method === 'POST' && seg.length === 1 && seg[0] === 'connections') return { kind: 'import' };
  if (method === 'GET' && seg.length === 2 && seg[0] === 'connections' && seg[1]) return { kind: 'get', rawId: seg[1] };
  // Registered after /connections/metadata, which it would otherwise shadow.
  if (method === 'PATCH' && seg.length === 2 && seg[0] === 'connections' && seg[1]) return { kind: 'edit', rawId: seg[1] };
  return undefined;
}

export async function handle(st: StandinState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const path = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
  const params = new URLSearchParams(q >= 0 ? rawUrl.slice(q + 1) : '');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    const value = Array.isArray(v) ? v.join(', ') : v;
    // The key never enters the record; the scheme stays so contract checks can see "Bearer".
    headers[k] = k === 'authorization' ? (value.startsWith('Bearer ') ? 'Bearer REDACTED' : 'REDACTED') : value;
  }
  const n = ++st.seq;
  const rec: RecordedRequest = { n, method, path, query: Object.fromEntries(params), headers, body: undefined, startedAt: Date.now() };
  st.requests.push(rec);
  st.counters.requests++;

  let waited = false;
  const latency = async () => {
    if (!waited) {
      waited = true;
      await st.sleep(st.latencyMs);
    }
  };
  let rateHeaders: Record<string, string> = {};
  const finish = (status: number) => {
    rec.status = status;
    rec.endedAt = Date.now();
    st.counters.byStatus[status] = (st.counters.byStatus[status] ?? 0) + 1;
    if (status === 429) st.counters.rateLimited++;
  };
  const sendRaw = async (status: number, contentType: string, text: string, extra: Record<string, string> = {}) => {
    await latency();
    finish(status);
    if (res.destroyed || st.closed) return;
    res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(text)), ...extra });
    res.end(text);
  };
  const sendJson = (status: number, body: unknown, extra: Record<string, string> = {}) =>
    sendRaw(status, JSON_TYPE, JSON.stringify(body), { ...rateHeaders, ...extra });

  // Body first (always drained so keep-alive sockets stay usable); nothing past the limit is kept.
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= BODY_LIMIT) chunks.push(chunk);
  }
  const text = size > BODY_LIMIT ? '' : Buffer.concat(chunks).toString('utf8');
  if (text) rec.body = text.length > RECORD_BODY_MAX ? `<${text.length} characters>` : text;

  // Not Nango: lets a person running `npm start -- --keep-running` "create" a connection (the fix
  // for an unknown_connection failure) before replaying it. Unauthenticated: it listens on 127.0.0.1 only.
  if (path === '/_standin/connections' && method === 'POST') {
    let c: Partial<SeedConnection> | undefined;
    try {
      c = JSON.parse(text) as Partial<SeedConnection>;
    } catch {
      c = undefined;
    }
    if (!c || typeof c.connectionId !== 'string' || typeof c.providerConfigKey !== 'string' || !c.connectionId || !c.providerConfigKey) {
      return sendJson(400, stdError('invalid_body', { message: 'expected {"connectionId", "providerConfigKey", "metadata"?, "tags"?}' }));
    }
    try {
      const created = st.create({
        connectionId: c.connectionId,
        providerConfigKey: c.providerConfigKey,
        metadata: c.metadata ?? null,
        ...(c.provider ? { provider: c.provider } : {}),
        ...(c.tags ? { tags: c.tags } : {}),
      });
      return sendJson(201, listedJson(created));
    } catch (e) {
      return sendJson(400, stdError('invalid_body', { message: (e as Error).message }));
    }
  }

  const route = matchRoute(method, path);
  if (!route) {
    return sendRaw(404, 'text/html; charset=utf-8', expressNotFound(method, path), {
      'Content-Security-Policy': "default-src 'none'",
      'X-Content-Type-Options': 'nosniff',
    });
  }
  const isWrite = route.kind === 'current' || route.kind === 'legacy' || route.kind === 'import' || route.kind === 'edit';
  if ((route.kind === 'current' || route.kind === 'legacy') && route.method === 'PATCH') st.counters.patches++;
  if (size > BODY_LIMIT) return sendJson(413, stdError('payload_too_large', { message: 'request entity too large' }));

  // Writes take JSON only, checked before auth and the rate limit: the answer carries no X-RateLimit-*.
  if (isWrite) {
    const ct = req.headers['content-type'];
    if ((ct && !ct.toLowerCase().includes('application/json')) || (!ct && text.length > 0)) {
      return sendJson(415, stdError('invalid_content_type', { message: 'Content-Type header must be application/json' }));
    }
  }

  // Auth: header, UUID v4 format, then the account's key.
  const authorization = req.headers.authorization ?? '';
  const key = authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length).trim() : authorization.trim();
  if (!key) return sendJson(401, authError('missing_auth_header'));
  if (!isUuidV4(key)) return sendJson(401, authError('invalid_secret_key_format'));
  if (key !== st.secretKey && !st.forbidden.has(key) && !st.unlistable.has(key)) return sendJson(401, authError('unknown_account'));

  const decision = st.window.hit();
  rateHeaders = decision.headers;
  if (!decision.allowed) return sendJson(429, tooManyRequests(method, path), { 'Retry-After': String(decision.retryAfter ?? 0) });
  if (isWrite && st.forbidden.has(key)) return sendJson(403, stdError('forbidden', { message: AUTH_MESSAGES.forbidden }));
  if (route.kind === 'list' && st.unlistable.has(key))
    return sendJson(403, stdError('forbidden', { message: AUTH_MESSAGES.forbiddenList }));

  // The body parser rejects malformed JSON and top-level primitives.
  let body: unknown = {};
  if (isWrite) {
    if (text.trim().length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        return sendJson(400, stdError('invalid_json', { message: 'The request body is not valid JSON' }));
      }
      if (typeof body !== 'object' || body === null) {
        return sendJson(400, stdError('invalid_json', { message: 'The request body must be a JSON object or array' }));
      }
    }
    if (text.length <= RECORD_BODY_MAX) rec.body = route.kind === 'import' ? maskCredentials(body) : body;
  }

  // Who the request is about, for the fault hook and the overlap count.
  let connectionIds: string[] = [];
  let providerConfigKey: string | undefined;
  let legacyId: string | undefined;
  if (route.kind === 'legacy' || route.kind === 'get' || route.kind === 'edit') {
    try {
      legacyId = decodeURIComponent(route.rawId);
    } catch {
      return sendRaw(400, 'text/html; charset=utf-8', expressNotFound(method, path).replace('Cannot', 'Failed to decode param in'));
    }
    connectionIds = [legacyId];
    const pck = route.kind === 'legacy' ? req.headers['provider-config-key'] : params.get('provider_config_key');
    providerConfigKey = typeof pck === 'string' ? pck : undefined;
  } else if ((route.kind === 'current' || route.kind === 'import') && isPlainObject(body)) {
    const cid = body['connection_id'];
    connectionIds = typeof cid === 'string' ? [cid] : Array.isArray(cid) ? cid.filter((x): x is string => typeof x === 'string') : [];
    providerConfigKey = typeof body['provider_config_key'] === 'string' ? body['provider_config_key'] : undefined;
  } else if (route.kind === 'list') {
    const cid = params.get('connectionId');
    connectionIds = cid !== null ? [cid] : [];
  }
  const targetKeys = providerConfigKey !== undefined ? [...new Set(connectionIds.map((c) => keyOf(c, providerConfigKey!)))] : [];

  const tracked = isWrite ? targetKeys : [];
  for (const k of tracked) {
    const now = st.inFlight.get(k) ?? 0;
    if (now > 0) st.counters.overlaps++;
    st.inFlight.set(k, now + 1);
    st.counters.maxConcurrentPerConnection = Math.max(st.counters.maxConcurrentPerConnection, now + 1);
  }
  try {
    await latency();
    const firstKey = targetKeys[0];
    let connectionN: number | undefined;
    if (firstKey !== undefined) {
      connectionN = (st.perConnectionCount.get(firstKey) ?? 0) + 1;
      st.perConnectionCount.set(firstKey, connectionN);
    }
    const fault = st.faultHook?.({
      method,
      path,
      n,
      ...(connectionIds[0] !== undefined ? { connectionId: connectionIds[0], connectionIds } : {}),
      ...(providerConfigKey !== undefined ? { providerConfigKey } : {}),
      ...(connectionN !== undefined ? { connectionN } : {}),
    });
    if (fault) {
      rec.fault = fault.kind;
      const io = {
        res,
        sendJson,
        sendRaw,
        finish,
        sleep: (ms: number) => st.sleep(ms),
        authorization,
        rateLimitDefault: st.rateLimitDefault,
        method,
        path,
      };
      if (await answerFault(fault, io)) return;
    }
    await serveRoute(st, { route, n, method, path, params, body, legacyId, providerConfigKey }, sendJson);
  } finally {
    for (const k of tracked) {
      const left = (st.inFlight.get(k) ?? 1) - 1;
      if (left > 0) st.inFlight.set(k, left);
      else st.inFlight.delete(k);
    }
  }
}
