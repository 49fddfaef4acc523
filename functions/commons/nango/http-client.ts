/**
 * The Nango adapter on undici: a keep-alive pool per origin, every request bounded by the caller's
 * deadline, ids and filters validated before sending, error bodies parsed leniently and scrubbed of
 * the key, X-RateLimit-* obeyed, and a 401 answered by fetching the key again once. Hand-written
 * rather than @nangohq/node: the SDK goes through axios with no timeouts bound to the Lambda's
 * remaining time, has no tag filter on its list call, and gives back raw axios errors (request
 * headers, so the key, included).
 */
import { Agent, type Dispatcher, request } from './undici.ts';
import type { MetadataPatch } from '#events/define';
import type { Target } from '../sync/message.ts';
import type { KeyProvider, NangoCredentials } from '../secrets.ts';
import { registerSecret } from '../redact.ts';
import { Failure } from '../failure.ts';
import { MAX_ERROR_BODY_BYTES, errorFromException, errorFromResponse } from './errors.ts';
import { assertValidFilter, assertValidPage, connectionsQuery, describeFilter, matchesFilter } from './filter.ts';
import { assertValidTarget } from './ids.ts';
import { parseConnections } from './listed.ts';
import type { CallOptions, ConnectionFilter, ListedConnection, NangoPort, PageRequest, RateLimitState } from './port.ts';
import { RateLimitGate, readRateLimit } from './rate-limit.ts';

export type EndpointStyle = 'current' | 'legacy';

export interface HttpNangoClientOptions {
  host: string;
  endpoint: EndpointStyle;
  keys: KeyProvider;
  /** Cap of one request, further bounded by the deadline. */
  timeoutMs: number;
  dispatcher?: Dispatcher;
  gate?: RateLimitGate;
  /** Called after every response, for metrics. */
  onResponse?: (info: { method: string; route: string; status: number; ms: number }) => void;
  /** The most of one list page read (default MAX_LIST_PAGE_BYTES). */
  maxListBytes?: number;
}

/**
 * A list page is read up to this much. A page of 1,000 connections (the most we ask for) with tags
 * and a few KiB of metadata each is a few MiB; 32 MiB leaves room for metadata ten times larger,
 * while its text and parsed objects (a few times the bytes) stay well inside a 512 MB function. A page
 * past it is `response_too_large` (ask for smaller pages), never read whole: a 400 MB answer once
 * took a client to 1.3 GB.
 */
export const MAX_LIST_PAGE_BYTES = 32 * 1024 * 1024;

interface Sent {
  /** The key the request carried: scrubbed from any error built from the answer. */
  key: string;
  status: number;
  text: string;
  /** The body went past its cap: `text` holds its first bytes only. */
  truncated: boolean;
  contentType: string | undefined;
  rateLimit: RateLimitState | undefined;
  retryAfterMs: number | undefined;
}

/** Leave the Lambda a moment to record the outcome after a request is cut. */
const MIN_REQUEST_MS = 50;

export class HttpNangoClient implements NangoPort {
  private readonly dispatcher: Dispatcher;
  readonly gate: RateLimitGate;

  constructor(private readonly opts: HttpNangoClientOptions) {
    this.dispatcher = opts.dispatcher ?? new Agent({ keepAliveTimeout: 30_000, connections: 32, pipelining: 1 });
    this.gate = opts.gate ?? new RateLimitGate();
  }

  async patchMetadata(target: Target, patch: MetadataPatch, call: CallOptions): Promise<void> {
    assertValidTarget(target);
    const body = JSON.stringify(
      this.opts.endpoint === 'current'
        ? { connection_id: target.connectionId, provider_config_key: target.providerConfigKey, metadata: patch }
        : patch,
    );
    const path =
      this.opts.endpoint === 'current' ? '/connections/metadata' : `/connection/${encodePathSegment(target.connectionId)}/metadata`;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.opts.endpoint === 'legacy') headers['provider-config-key'] = target.providerConfigKey;
    const res = await this.send({ method: 'PATCH', path, headers, body, route: 'metadata' }, call);
    if (res.status < 200 || res.status >= 300) throw this.toError(res);
  }

  async listConnections(filter: ConnectionFilter, page: PageRequest, call: CallOptions): Promise<ListedConnection[]> {
    assertValidFilter(filter);
    assertValidPage(page);
    const res = await this.send(
      { method: 'GET', path: `/connections?${connectionsQuery(filter, page)}`, headers: {}, route: 'connections' },
      call,
    );
    if (res.status !== 200) throw this.toError(res);
    if (res.truncated) {
      // The same page answers the same way again: not worth a retry. No excerpt: a list page holds
      // other customers' tags and metadata, and this message is logged and kept in the DLQ.
      throw new Failure({
        source: 'nango',
        kind: 'over_limit',
        code: 'response_too_large',
        message: `GET /connections answered more than ${Math.round(this.listCap / 1024 / 1024)} MiB for one page of ${page.limit}: ask for smaller pages`,
        status: res.status,
      });
    }
    const listed = parseConnections(res.text);
    if (!listed) {
      // A 200 we cannot read must not pass for "no connections": the subject would look empty.
      throw new Failure({
        source: 'nango',
        kind: 'unexpected',
        code: 'unexpected_response',
        message: 'GET /connections did not return a readable connections list',
        status: res.status,
      });
    }
    const stray = listed.find((c) => !matchesFilter(c, filter));
    if (stray) {
      // A server that ignored a filter lists other customers' connections: never write to those.
      throw new Failure({
        source: 'nango',
        kind: 'misconfigured',
        code: 'filter_ignored',
        message: `GET /connections answered a connection outside the filter (${describeFilter(filter)}): does this Nango support tag filters?`,
        status: res.status,
      });
    }
    return listed;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private toError(res: Sent): Failure {
    return errorFromResponse(res.status, res.contentType, res.text, res.retryAfterMs, [res.key], res.truncated);
  }

  private get listCap(): number {
    return this.opts.maxListBytes ?? MAX_LIST_PAGE_BYTES;
  }

  private async credentials(read: Promise<NangoCredentials>): Promise<NangoCredentials> {
    const creds = await read;
    // From here on, any text this process logs or stores is scrubbed of it.
    registerSecret(creds.secretKey);
    return creds;
  }

  /** Send once; on 401, fetch the key again (single-flight) and send once more. */
  private async send(req: Outgoing, call: CallOptions): Promise<Sent> {
    let creds = await this.credentials(this.opts.keys.get());
    let res = await this.sendWith(creds, req, call);
    if (res.status === 401) {
      creds = await this.credentials(this.opts.keys.refresh(creds));
      res = await this.sendWith(creds, req, call);
      if (res.status === 401) {
        const e = this.toError(res);
        // Still refused with a fresh key: a revoked or wrong key, fixed by an operator, then replayed.
        const message = `${e.message} (after fetching the secret key again)`;
        throw new Failure({ source: 'nango', kind: e.kind, code: e.code, message, status: 401, errors: e.errors, secrets: [res.key] });
      }
    }
    return res;
  }

  private async sendWith(creds: NangoCredentials, { method, path, headers, body, route }: Outgoing, call: CallOptions): Promise<Sent> {
    if (!(await this.gate.acquire(call.deadline - MIN_REQUEST_MS))) {
      const waitMs = Math.max(1000, this.gate.nextSlot() - Date.now());
      throw new Failure({
        source: 'nango',
        kind: 'throttled',
        code: 'rate_limited_locally',
        message: 'Nango rate limit window is spent; waiting for its end would pass the deadline',
        retryAfterMs: waitMs,
      });
    }
    const timeout = Math.min(this.opts.timeoutMs, call.deadline - Date.now());
    if (timeout < MIN_REQUEST_MS) {
      this.gate.release(undefined);
      throw new Failure({
        source: 'nango',
        kind: 'timeout',
        code: 'timeout',
        message: 'no time left for a request to Nango before the deadline',
      });
    }
    const started = performance.now();
    let observed: RateLimitState | undefined;
    let answered = false;
    const key = creds.secretKey;
    try {
      // The raw path goes to the dispatcher as is: a URL object would resolve dot segments.
      const res = await request(this.dispatcher, {
        origin: new URL(creds.host ?? this.opts.host).origin,
        path: basePath(creds.host ?? this.opts.host) + path,
        method,
        headers: { ...headers, authorization: `Bearer ${key}`, accept: 'application/json' },
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout),
      });
      answered = res.statusCode >= 200 && res.statusCode < 300;
      // The headers count even if the body then fails: a metered 2xx must never pass for unmetered.
      observed = readRateLimit(res.headers);
      // Only a list page is worth more than an error's worth of text; a PATCH's answer is not used.
      const cap = answered && route === 'connections' ? this.listCap : MAX_ERROR_BODY_BYTES;
      const { text, truncated } = await readCapped(res.body, cap);
      const contentType = headerValue(res.headers['content-type']);
      const retryAfterMs = res.statusCode === 429 ? this.gate.tooManyRequests(res.headers['retry-after'], observed) : undefined;
      this.opts.onResponse?.({ method, route, status: res.statusCode, ms: performance.now() - started });
      return { key, status: res.statusCode, text, truncated, contentType, rateLimit: observed, retryAfterMs };
    } catch (e) {
      throw errorFromException(e, [key]);
    } finally {
      this.gate.release(observed, answered);
    }
  }
}

/**
 * Reads at most `cap` bytes of a body, then drops the connection: an answer of any size costs at most
 * the cap in memory (plus one chunk), never the whole body.
 */
export async function readCapped(body: Dispatcher.ResponseData['body'], cap: number): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    if (size + b.length > cap) {
      chunks.push(b.subarray(0, cap - size));
      body.destroy();
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(b);
    size += b.length;
  }
  return { text: Buffer.concat(chunks, size).toString('utf8'), truncated: false };
}

/** One request as the client builds it; `route` names it in onResponse. */
interface Outgoing {
  method: Dispatcher.HttpMethod;
  path: string;
  headers: Record<string, string>;
  body?: string;
  route: string;
}

/**
 * encodeURIComponent leaves "." alone, and "." or ".." as a whole segment would be read as a path
 * step by anything that normalises URLs; Nango (Express) decodes %2E back to a literal id.
 */
function encodePathSegment(id: string): string {
  const e = encodeURIComponent(id);
  return /^\.+$/.test(e) ? e.replace(/\./g, '%2E') : e;
}

/** A host may carry a base path (a self-hosted Nango behind a prefix); never a trailing slash. */
function basePath(host: string): string {
  return new URL(host).pathname.replace(/\/+$/, '');
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
