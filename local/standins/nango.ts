/**
 * A Nango HTTP API stand-in on 127.0.0.1, faithful to what DESIGN.md records about the real server
 * (0.71.x): auth codes, the current and legacy metadata routes with their quirks, GET connections,
 * the per-account fixed-window rate limit, the 75 MB body limit. On top of that it records every
 * request, counts concurrent writes per connection (the lost-update hazard), can lose updates like
 * the real server (`raceMode`), and injects faults that never apply the write.
 */
import type http from 'node:http';
import type { Fault, FaultHook } from './nango/faults.ts';
import { listenOnLoopback } from './loopback-server.ts';
import { FixedWindow, type RateLimitConfig } from './nango/rate-limit.ts';
import {
  AUTH_MESSAGES,
  expressNotFound,
  genericErrorSupport,
  isUuidV4,
  metadataBodySchema,
  proxyErrorPage,
  stdError,
  unknownConnection,
  zodIssues,
} from './nango/wire.ts';

export type { Fault, FaultHook, FaultRequest, ProbabilityPlan } from './nango/faults.ts';
export { firstFault, probabilityFaults } from './nango/faults.ts';

type Metadata = Record<string, unknown>;

export interface SeedConnection {
  connectionId: string;
  providerConfigKey: string;
  provider?: string;
  metadata?: Metadata | null;
}

export interface NangoStandinOptions {
  /** The account's current secret key; must be a UUID v4 like the real ones. */
  secretKey: string;
  connections?: SeedConnection[];
  /** Fixed delay added to every request before it is answered. */
  latencyMs?: number;
  /** Per-account fixed window; when set, authenticated answers carry X-RateLimit-* headers. */
  rateLimit?: RateLimitConfig;
  /** Read, wait `raceDelayMs`, write: concurrent PATCHes to one connection lose updates. */
  raceMode?: boolean;
  /** The wait between read and write in race mode (default 25 ms). */
  raceDelayMs?: number;
  fault?: FaultHook;
  /** Keys that authenticate but lack environment:connections:update: writes get 403 `forbidden`. */
  forbiddenKeys?: string[];
}

export interface RecordedRequest {
  /** 1-based, the `n` the fault hook saw. */
  n: number;
  method: string;
  /** Raw path as sent (percent-encoding kept), without the query string. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased names; `authorization` becomes "Bearer REDACTED" (or "REDACTED" without the scheme). */
  headers: Record<string, string>;
  /** Parsed JSON when it parsed, the text otherwise, undefined when empty. */
  body: unknown;
  /** Undefined while in flight; 0 when the socket was reset by a fault. */
  status?: number;
  fault?: Fault['kind'];
  startedAt: number;
  endedAt?: number;
}

export interface AppliedWrite {
  at: number;
  /** Request number (RecordedRequest.n). */
  n: number;
  route: 'current' | 'legacy';
  method: 'PATCH' | 'POST';
  patch: Metadata;
  before: Metadata | null;
  after: Metadata;
}

export interface NangoStandinStats {
  requests: number;
  /** PATCH requests to a metadata route, whatever their outcome. */
  patches: number;
  /** Writes that changed stored metadata (one per connection id). */
  applied: number;
  byStatus: Record<number, number>;
  /** Times a write (PATCH/POST) for a (connection, integration) started while another was in flight. */
  overlaps: number;
  maxConcurrentPerConnection: number;
  /** 429 answers, from the rate limit or injected. */
  rateLimited: number;
}

export interface NangoStandin {
  url: string;
  close(): Promise<void>;
  setSecretKey(key: string): void;
  addConnection(c: SeedConnection): void;
  removeConnection(connectionId: string, providerConfigKey: string): void;
  metadataOf(connectionId: string, providerConfigKey: string): Metadata | null | undefined;
  connections(): SeedConnection[];
  setFault(hook: FaultHook | undefined): void;
  setLatency(ms: number): void;
  requests: RecordedRequest[];
  stats(): NangoStandinStats;
  /** Writes applied to one connection, oldest first. */
  applyHistory(connectionId: string, providerConfigKey: string): AppliedWrite[];
  /** Clears recorded requests, stats, apply history and the rate window; keeps connections and settings. */
  reset(): void;
}

interface StoredConnection {
  id: number;
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  metadata: Metadata | null;
  created: string;
  updated: string;
}

const BODY_LIMIT = 75 * 1024 * 1024;
const RECORD_BODY_MAX = 1024 * 1024;
const JSON_TYPE = 'application/json; charset=utf-8';

const keyOf = (connectionId: string, providerConfigKey: string) => `${providerConfigKey}\u0000${connectionId}`;
const isPlainObject = (v: unknown): v is Metadata => typeof v === 'object' && v !== null && !Array.isArray(v);

type Route =
  | { kind: 'current'; method: 'PATCH' | 'POST' }
  | { kind: 'legacy'; method: 'PATCH' | 'POST'; rawId: string }
  | { kind: 'list' }
  | { kind: 'get'; rawId: string };

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
  if (method === 'GET' && seg.length === 2 && seg[0] === 'connections' && seg[1]) return { kind: 'get', rawId: seg[1] };
  return undefined;
}

export async function startNangoStandin(opts: NangoStandinOptions): Promise<NangoStandin> {
  const requireKey = (k: string) => {
    if (!isUuidV4(k)) throw new Error('Nango stand-in: secret keys are UUID v4');
    return k;
  };
  let secretKey = requireKey(opts.secretKey);
  const forbidden = new Set((opts.forbiddenKeys ?? []).map(requireKey));
  let latencyMs = opts.latencyMs ?? 0;
  let faultHook = opts.fault;
  const raceMode = opts.raceMode ?? false;
  const raceDelayMs = opts.raceDelayMs ?? 25;
  const window = opts.rateLimit ? new FixedWindow(opts.rateLimit) : undefined;

  const store = new Map<string, StoredConnection>();
  let nextId = 1;
  const addConnection = (c: SeedConnection) => {
    const now = new Date().toISOString();
    store.set(keyOf(c.connectionId, c.providerConfigKey), {
      id: nextId++,
      connectionId: c.connectionId,
      providerConfigKey: c.providerConfigKey,
      provider: c.provider ?? c.providerConfigKey,
      metadata: c.metadata === undefined || c.metadata === null ? null : structuredClone(c.metadata),
      created: now,
      updated: now,
    });
  };
  for (const c of opts.connections ?? []) addConnection(c);

  const requests: RecordedRequest[] = [];
  const history = new Map<string, AppliedWrite[]>();
  const perConnectionCount = new Map<string, number>();
  const inFlight = new Map<string, number>();
  let seq = 0;
  const fresh = (): NangoStandinStats => ({
    requests: 0,
    patches: 0,
    applied: 0,
    byStatus: {},
    overlaps: 0,
    maxConcurrentPerConnection: 0,
    rateLimited: 0,
  });
  let counters = fresh();

  // Sleeps end early on close() so no handler is left waiting on a timer.
  let closed = false;
  const sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ms <= 0 || closed) return resolve();
      const s = {
        timer: setTimeout(() => {
          sleepers.delete(s);
          resolve();
        }, ms),
        resolve,
      };
      sleepers.add(s);
    });

  function applyWrite(
    n: number,
    route: AppliedWrite['route'],
    method: AppliedWrite['method'],
    conn: StoredConnection,
    patch: Metadata,
    before: Metadata | null,
  ) {
    // Shallow merge for PATCH: null is stored, nested objects are replaced whole. POST replaces.
    const after = method === 'PATCH' ? { ...(before ?? {}), ...structuredClone(patch) } : structuredClone(patch);
    conn.metadata = after;
    conn.updated = new Date().toISOString();
    counters.applied++;
    const k = keyOf(conn.connectionId, conn.providerConfigKey);
    const list = history.get(k) ?? [];
    list.push({ at: Date.now(), n, route, method, patch: structuredClone(patch), before, after: structuredClone(after) });
    history.set(k, list);
  }

  /** Writes to several connections: atomic by default; read, wait, write in race mode. */
  async function write(
    n: number,
    route: AppliedWrite['route'],
    method: AppliedWrite['method'],
    conns: StoredConnection[],
    patch: Metadata,
  ) {
    const befores = conns.map((c) => (c.metadata === null ? null : structuredClone(c.metadata)));
    if (raceMode && method === 'PATCH') await sleep(raceDelayMs);
    if (closed) return;
    conns.forEach((c, i) => {
      applyWrite(n, route, method, c, patch, befores[i] ?? null);
    });
  }

  const connectionJson = (c: StoredConnection) => ({
    id: c.id,
    connection_id: c.connectionId,
    provider: c.provider,
    provider_config_key: c.providerConfigKey,
    created: c.created,
    metadata: c.metadata,
    tags: {},
    errors: [],
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
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
    const n = ++seq;
    const rec: RecordedRequest = { n, method, path, query: Object.fromEntries(params), headers, body: undefined, startedAt: Date.now() };
    requests.push(rec);
    counters.requests++;

    let waited = false;
    const latency = async () => {
      if (!waited) {
        waited = true;
        await sleep(latencyMs);
      }
    };
    let rateHeaders: Record<string, string> = {};
    const finish = (status: number) => {
      rec.status = status;
      rec.endedAt = Date.now();
      counters.byStatus[status] = (counters.byStatus[status] ?? 0) + 1;
      if (status === 429) counters.rateLimited++;
    };
    const sendRaw = async (status: number, contentType: string, text: string, extra: Record<string, string> = {}) => {
      await latency();
      finish(status);
      if (res.destroyed || closed) return;
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
        return sendJson(400, stdError('invalid_body', { message: 'expected {"connectionId", "providerConfigKey", "metadata"?}' }));
      }
      addConnection({
        connectionId: c.connectionId,
        providerConfigKey: c.providerConfigKey,
        metadata: c.metadata ?? null,
        ...(c.provider ? { provider: c.provider } : {}),
      });
      return sendJson(201, { connection_id: c.connectionId, provider_config_key: c.providerConfigKey });
    }

    const route = matchRoute(method, path);
    if (!route) {
      return sendRaw(404, 'text/html; charset=utf-8', expressNotFound(method, path), {
        'Content-Security-Policy': "default-src 'none'",
        'X-Content-Type-Options': 'nosniff',
      });
    }
    const isWrite = route.kind === 'current' || route.kind === 'legacy';
    if (isWrite && route.method === 'PATCH') counters.patches++;
    if (size > BODY_LIMIT) return sendJson(413, stdError('payload_too_large', { message: 'request entity too large' }));

    // Auth: header, UUID v4 format, then the account's key.
    const auth = req.headers.authorization;
    const key = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : auth ? auth.trim() : '';
    if (!key) return sendJson(401, stdError('missing_auth_header', { message: AUTH_MESSAGES.missing_auth_header }));
    if (!isUuidV4(key)) return sendJson(401, stdError('invalid_secret_key_format', { message: AUTH_MESSAGES.invalid_secret_key_format }));
    if (key !== secretKey && !forbidden.has(key))
      return sendJson(401, stdError('unknown_account', { message: AUTH_MESSAGES.unknown_account }));

    if (window) {
      const decision = window.hit();
      rateHeaders = decision.headers;
      if (!decision.allowed) {
        return sendJson(429, { error: { code: 'too_many_request' } }, { 'Retry-After': String(decision.retryAfter ?? 0) });
      }
    }
    if (isWrite && forbidden.has(key)) return sendJson(403, stdError('forbidden', { message: AUTH_MESSAGES.forbidden }));

    // Writes take JSON only; the body parser rejects malformed JSON and top-level primitives.
    let body: unknown = {};
    if (isWrite) {
      const ct = req.headers['content-type'];
      if ((ct && !ct.toLowerCase().includes('application/json')) || (!ct && text.length > 0)) {
        return sendJson(
          415,
          stdError('invalid_content_type', { message: `The content type '${ct ?? ''}' is not supported, use application/json` }),
        );
      }
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
      if (text.length <= RECORD_BODY_MAX) rec.body = body;
    }

    // Who the request is about, for the fault hook and the overlap count.
    let connectionIds: string[] = [];
    let providerConfigKey: string | undefined;
    let legacyId: string | undefined;
    if (route.kind === 'legacy' || route.kind === 'get') {
      try {
        legacyId = decodeURIComponent(route.rawId);
      } catch {
        return sendRaw(400, 'text/html; charset=utf-8', expressNotFound(method, path).replace('Cannot', 'Failed to decode param in'));
      }
      connectionIds = [legacyId];
      const pck = route.kind === 'legacy' ? req.headers['provider-config-key'] : params.get('provider_config_key');
      providerConfigKey = typeof pck === 'string' ? pck : undefined;
    } else if (route.kind === 'current' && isPlainObject(body)) {
      const cid = body['connection_id'];
      connectionIds = typeof cid === 'string' ? [cid] : Array.isArray(cid) ? cid.filter((x): x is string => typeof x === 'string') : [];
      providerConfigKey = typeof body['provider_config_key'] === 'string' ? body['provider_config_key'] : undefined;
    } else if (route.kind === 'list') {
      connectionIds = params.get('connectionId') !== null ? [params.get('connectionId')!] : [];
    }
    const targetKeys = providerConfigKey !== undefined ? [...new Set(connectionIds.map((c) => keyOf(c, providerConfigKey!)))] : [];

    const tracked = isWrite ? targetKeys : [];
    for (const k of tracked) {
      const now = inFlight.get(k) ?? 0;
      if (now > 0) counters.overlaps++;
      inFlight.set(k, now + 1);
      counters.maxConcurrentPerConnection = Math.max(counters.maxConcurrentPerConnection, now + 1);
    }
    try {
      await latency();
      const firstKey = targetKeys[0];
      let connectionN: number | undefined;
      if (firstKey !== undefined) {
        connectionN = (perConnectionCount.get(firstKey) ?? 0) + 1;
        perConnectionCount.set(firstKey, connectionN);
      }
      const fault = faultHook?.({
        method,
        path,
        n,
        ...(connectionIds[0] !== undefined ? { connectionId: connectionIds[0], connectionIds } : {}),
        ...(providerConfigKey !== undefined ? { providerConfigKey } : {}),
        ...(connectionN !== undefined ? { connectionN } : {}),
      });
      if (fault) {
        rec.fault = fault.kind;
        const done = await answerFault(fault, res, sendJson, sendRaw, finish);
        if (done) return;
      }
      await serve(route, n, method, path, params, body, legacyId, providerConfigKey, sendJson);
    } finally {
      for (const k of tracked) {
        const left = (inFlight.get(k) ?? 1) - 1;
        if (left > 0) inFlight.set(k, left);
        else inFlight.delete(k);
      }
    }
  }

  /** Answers an injected fault; returns false when the request should go on normally (delay + apply). */
  async function answerFault(
    fault: Fault,
    res: http.ServerResponse,
    sendJson: (status: number, body: unknown, extra?: Record<string, string>) => Promise<void>,
    sendRaw: (status: number, contentType: string, text: string, extra?: Record<string, string>) => Promise<void>,
    finish: (status: number) => void,
  ): Promise<boolean> {
    switch (fault.kind) {
      case 'status': {
        const defaults: Record<number, string> = {
          500: 'server_error',
          502: 'bad_gateway',
          503: 'service_unavailable',
          504: 'gateway_timeout',
        };
        const body =
          fault.body ??
          stdError(fault.code ?? defaults[fault.status] ?? `http_${fault.status}`, { message: fault.message ?? 'Injected fault' });
        await sendJson(fault.status, body, fault.headers);
        return true;
      }
      case 'rateLimit': {
        const reset = Math.ceil(Date.now() / 1000) + fault.retryAfter;
        await sendJson(
          429,
          { error: { code: 'too_many_request' } },
          {
            'Retry-After': String(fault.retryAfter),
            'X-RateLimit-Limit': String(opts.rateLimit?.limit ?? 200),
            'X-RateLimit-Remaining': '0',
            'X-RateLimit-Reset': String(reset),
          },
        );
        return true;
      }
      case 'reset':
        finish(0);
        res.socket?.destroy();
        return true;
      case 'delay':
        await sleep(fault.ms);
        if (fault.apply) return false;
        await sendRaw(504, 'text/html', proxyErrorPage(504));
        return true;
      case 'html': {
        const status = fault.status ?? 502;
        await sendRaw(status, 'text/html', fault.body ?? proxyErrorPage(status));
        return true;
      }
    }
  }

  async function serve(
    route: Route,
    n: number,
    method: string,
    path: string,
    params: URLSearchParams,
    body: unknown,
    legacyId: string | undefined,
    providerConfigKey: string | undefined,
    sendJson: (status: number, body: unknown, extra?: Record<string, string>) => Promise<void>,
  ): Promise<void> {
    switch (route.kind) {
      case 'current': {
        // Any query parameter is refused, before the body is looked at.
        if ([...params.keys()].length > 0) {
          const errors = [...new Set(params.keys())].map((k) => ({
            code: 'unrecognized_keys',
            message: `Unrecognized key(s) in object: '${k}'`,
            path: [],
          }));
          return sendJson(400, stdError('invalid_query_params', { errors }));
        }
        const val = metadataBodySchema.safeParse(body);
        if (!val.success) return sendJson(400, stdError('invalid_body', { errors: zodIssues(val.error) }));
        const ids = Array.isArray(val.data.connection_id) ? val.data.connection_id : [val.data.connection_id];
        const pck = val.data.provider_config_key;
        const conns: StoredConnection[] = [];
        for (const id of ids) {
          const c = store.get(keyOf(id, pck));
          if (!c) return sendJson(404, unknownConnection(id, pck, ids.length > 1));
          conns.push(c);
        }
        await write(n, 'current', route.method, conns, val.data.metadata);
        return sendJson(route.method === 'POST' ? 201 : 200, body);
      }
      case 'legacy': {
        if (providerConfigKey === undefined || providerConfigKey === '') return sendJson(500, genericErrorSupport(method, path));
        const c = store.get(keyOf(legacyId!, providerConfigKey));
        if (!c) return sendJson(404, unknownConnection(legacyId!, providerConfigKey));
        // No validation: an array body spreads into {"0": ...}.
        await write(n, 'legacy', route.method, [c], { ...(body as object) } as Metadata);
        return sendJson(route.method === 'POST' ? 201 : 200, body);
      }
      case 'list': {
        const wanted = params.get('connectionId');
        const list = [...store.values()].filter((c) => wanted === null || c.connectionId === wanted);
        return sendJson(200, { connections: list.map(connectionJson) });
      }
      case 'get': {
        if (!providerConfigKey) {
          return sendJson(
            400,
            stdError('invalid_query_params', {
              errors: [{ code: 'invalid_type', message: 'Required', path: ['provider_config_key'] }],
            }),
          );
        }
        const c = store.get(keyOf(legacyId!, providerConfigKey));
        if (!c) return sendJson(404, unknownConnection(legacyId!, providerConfigKey));
        return sendJson(200, {
          ...connectionJson(c),
          created_at: c.created,
          updated_at: c.updated,
          end_user: null,
          connection_config: {},
        });
      }
    }
  }

  const loopback = await listenOnLoopback((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A stand-in bug must be loud in the test, never a hung request.
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(599, { 'Content-Type': 'text/plain' });
        res.end(`nango stand-in crashed: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  });

  return {
    url: loopback.url,
    requests,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of sleepers) {
        clearTimeout(s.timer);
        s.resolve();
      }
      sleepers.clear();
      await loopback.close();
    },
    setSecretKey(k) {
      secretKey = requireKey(k);
    },
    addConnection,
    removeConnection(connectionId, pck) {
      store.delete(keyOf(connectionId, pck));
    },
    metadataOf(connectionId, pck) {
      const c = store.get(keyOf(connectionId, pck));
      if (!c) return undefined;
      return c.metadata === null ? null : structuredClone(c.metadata);
    },
    connections() {
      return [...store.values()].map((c) => ({
        connectionId: c.connectionId,
        providerConfigKey: c.providerConfigKey,
        provider: c.provider,
        metadata: c.metadata === null ? null : structuredClone(c.metadata),
      }));
    },
    setFault(hook) {
      faultHook = hook;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    stats() {
      return { ...counters, byStatus: { ...counters.byStatus } };
    },
    applyHistory(connectionId, pck) {
      return structuredClone(history.get(keyOf(connectionId, pck)) ?? []);
    },
    reset() {
      requests.length = 0;
      history.clear();
      perConnectionCount.clear();
      counters = fresh();
      seq = 0;
      window?.reset();
    },
  };
}
