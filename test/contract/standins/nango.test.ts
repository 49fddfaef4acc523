/**
 * The Nango stand-in against what a real Nango server (0.71.x) does, fact by fact,
 * over real HTTP with undici.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { probabilityFaults, startNangoStandin, type NangoStandin, type NangoStandinOptions } from '../../../local/standins/nango.ts';
import { call } from './http.ts';

const KEY = randomUUID();
const ODD_ID = `acme/eu x@y.com`;
let nango: NangoStandin | undefined;

async function start(o: Partial<NangoStandinOptions> = {}): Promise<NangoStandin> {
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: [
      { connectionId: 'c1', providerConfigKey: 'hubspot', metadata: { a: 1, nested: { x: 1, y: 2 } } },
      { connectionId: 'c1', providerConfigKey: 'salesforce', provider: 'salesforce-sandbox' },
      { connectionId: 'c2', providerConfigKey: 'hubspot', metadata: {} },
      { connectionId: ODD_ID, providerConfigKey: 'hubspot' },
      { connectionId: '../', providerConfigKey: 'hubspot' },
    ],
    ...o,
  });
  return nango;
}

afterEach(async () => {
  await nango?.close();
  nango = undefined;
});

const patchCurrent = (n: NangoStandin, body: unknown, o: { key?: string | null; query?: string } = {}) =>
  call(n.url, 'PATCH', `/connections/metadata${o.query ?? ''}`, { key: o.key === undefined ? KEY : o.key, body });
const patchLegacy = (n: NangoStandin, id: string, pck: string | undefined, body: unknown, headers: Record<string, string> = {}) =>
  call(n.url, 'PATCH', `/connection/${encodeURIComponent(id)}/metadata`, {
    key: KEY,
    body,
    headers: { ...(pck !== undefined ? { 'provider-config-key': pck } : {}), ...headers },
  });

describe('auth', () => {
  it('401 missing_auth_header without Authorization', async () => {
    const n = await start();
    const r = await patchCurrent(n, { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { b: 1 } }, { key: null });
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe('missing_auth_header');
    expect(n.metadataOf('c1', 'hubspot')).toEqual({ a: 1, nested: { x: 1, y: 2 } });
  });

  it('401 invalid_secret_key_format for a key that is not a UUID v4', async () => {
    const n = await start();
    for (const bad of ['not-a-key', '6ba7b810-9dad-11d1-80b4-00c04fd430c8' /* v1 */]) {
      const r = await call(n.url, 'GET', '/connections', { key: bad });
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('invalid_secret_key_format');
    }
  });

  it('401 unknown_account for a well-formed key that is not the current one; rotation moves it', async () => {
    const n = await start();
    const other = randomUUID();
    expect((await call(n.url, 'GET', '/connections', { key: other })).json).toEqual({
      error: {
        code: 'unknown_account',
        message: 'Authentication failed. The provided authorization header does not match any account.',
        payload: {},
      },
    });
    n.setSecretKey(other);
    expect((await call(n.url, 'GET', '/connections', { key: other })).status).toBe(200);
    const old = await call(n.url, 'GET', '/connections', { key: KEY });
    expect(old.status).toBe(401);
    expect(old.json.error.code).toBe('unknown_account');
  });

  it('403 forbidden on writes for a key without the update scope; reads still work', async () => {
    const weak = randomUUID();
    const n = await start({ forbiddenKeys: [weak] });
    const r = await patchCurrent(n, { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { b: 1 } }, { key: weak });
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('forbidden');
    expect(n.metadataOf('c1', 'hubspot')).toEqual({ a: 1, nested: { x: 1, y: 2 } });
    expect((await call(n.url, 'GET', '/connections?connectionId=c1', { key: weak })).status).toBe(200);
  });

  it('refuses to start with a key that is not a UUID v4', async () => {
    await expect(startNangoStandin({ secretKey: 'nope' })).rejects.toThrow(/UUID v4/);
  });
});

describe('current endpoint: PATCH/POST /connections/metadata', () => {
  it('PATCH merges shallowly (null stored, nested replaced) and echoes the body with 200', async () => {
    const n = await start();
    const body = { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { b: 2, a: null, nested: { z: 3 } } };
    const r = await patchCurrent(n, body);
    expect(r.status).toBe(200);
    expect(r.json).toEqual(body);
    expect(n.metadataOf('c1', 'hubspot')).toEqual({ a: null, b: 2, nested: { z: 3 } });
    // The other integration of the same connection id is untouched.
    expect(n.metadataOf('c1', 'salesforce')).toBeNull();
  });

  it('POST replaces the metadata and answers 201 with the body', async () => {
    const n = await start();
    const body = { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { only: true } };
    const r = await call(n.url, 'POST', '/connections/metadata', { key: KEY, body });
    expect(r.status).toBe(201);
    expect(r.json).toEqual(body);
    expect(n.metadataOf('c1', 'hubspot')).toEqual({ only: true });
  });

  it('unknown body keys: 400 invalid_body with an unrecognized_keys issue, nothing written', async () => {
    const n = await start();
    const r = await patchCurrent(n, { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { b: 1 }, extra: 1 });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('invalid_body');
    expect(r.json.error.errors[0].code).toBe('unrecognized_keys');
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('b');
  });

  it('any query parameter: 400 invalid_query_params even with a valid body', async () => {
    const n = await start();
    for (const query of ['?provider_config_key=hubspot', '?env=prod', '?x']) {
      const r = await patchCurrent(n, { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { b: 1 } }, { query });
      expect(r.status, query).toBe(400);
      expect(r.json.error.code).toBe('invalid_query_params');
    }
    expect(n.applyHistory('c1', 'hubspot')).toHaveLength(0);
  });

  it('validates ids: pattern and 255-character limit, provider_config_key pattern, metadata an object', async () => {
    const long255 = 'x'.repeat(255);
    const n = await start({
      connections: [
        { connectionId: long255, providerConfigKey: 'hubspot' },
        { connectionId: ODD_ID, providerConfigKey: 'hubspot' },
      ],
    });
    const ok = (cid: unknown, pck: unknown, metadata: unknown = { v: 1 }) =>
      patchCurrent(n, { connection_id: cid, provider_config_key: pck, metadata });
    expect((await ok(long255, 'hubspot')).status).toBe(200);
    expect((await ok(ODD_ID, 'hubspot')).status).toBe(200);
    const bad: Array<[unknown, unknown, unknown?]> = [
      ['x'.repeat(256), 'hubspot'],
      ['line\nbreak', 'hubspot'],
      ['tab\tid', 'hubspot'],
      ['c1', 'hub/spot'],
      ['c1', 'x'.repeat(256)],
      ['c1', 'hubspot', ['array']],
      ['c1', 'hubspot', 'string'],
      ['c1', 'hubspot', null],
      [42, 'hubspot'],
    ];
    for (const [cid, pck, md] of bad) {
      const r = await ok(cid, pck, md === undefined ? { v: 1 } : md);
      expect(r.status, JSON.stringify([cid, pck, md])).toBe(400);
      expect(r.json.error.code).toBe('invalid_body');
      expect(Array.isArray(r.json.error.errors)).toBe(true);
    }
    const missing = await patchCurrent(n, { connection_id: 'c1', provider_config_key: 'hubspot' });
    expect(missing.status).toBe(400);
    expect(missing.json.error.errors.map((e: { path: string[] }) => e.path[0])).toContain('metadata');
  });

  it('several ids are all-or-nothing: one unknown gives 404 and nothing changes', async () => {
    const n = await start();
    const r = await patchCurrent(n, { connection_id: ['c1', 'nope', 'c2'], provider_config_key: 'hubspot', metadata: { b: 1 } });
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('unknown_connection');
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('b');
    expect(n.metadataOf('c2', 'hubspot')).toEqual({});
    const all = await patchCurrent(n, { connection_id: ['c1', 'c2'], provider_config_key: 'hubspot', metadata: { b: 1 } });
    expect(all.status).toBe(200);
    expect(n.metadataOf('c1', 'hubspot')).toMatchObject({ b: 1 });
    expect(n.metadataOf('c2', 'hubspot')).toEqual({ b: 1 });
  });

  it('404 unknown_connection for an unknown connection or integration', async () => {
    const n = await start();
    for (const [cid, pck] of [
      ['nope', 'hubspot'],
      ['c2', 'salesforce'],
    ]) {
      const r = await patchCurrent(n, { connection_id: cid, provider_config_key: pck, metadata: { b: 1 } });
      expect(r.status).toBe(404);
      expect(r.json.error.code).toBe('unknown_connection');
      expect(typeof r.json.error.message).toBe('string');
    }
  });

  it('415 for a non-JSON Content-Type, saying what it needs, with no X-RateLimit-* headers', async () => {
    const n = await start({ rateLimit: { limit: 100, windowMs: 60_000 } });
    const r = await call(n.url, 'PATCH', '/connections/metadata', {
      key: KEY,
      body: JSON.stringify({ connection_id: 'c1', provider_config_key: 'hubspot', metadata: { b: 1 } }),
      headers: { 'content-type': 'text/plain' },
    });
    expect(r.status).toBe(415);
    expect(r.json.error.code).toBe('invalid_content_type');
    expect(r.json.error.message).toBe('Content-Type header must be application/json');
    expect(Object.keys(r.headers).filter((h) => h.startsWith('x-ratelimit-'))).toEqual([]);
    // An authenticated answer does carry them.
    expect((await call(n.url, 'GET', '/connections', { key: KEY })).headers['x-ratelimit-limit']).toBe('100');
  });
});

describe('legacy endpoint: PATCH /connection/{id}/metadata', () => {
  it('merges shallowly, stores null, replaces nested objects, echoes the body with 200', async () => {
    const n = await start();
    const r = await patchLegacy(n, 'c1', 'hubspot', { b: 2, a: null, nested: { z: 3 } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ b: 2, a: null, nested: { z: 3 } });
    expect(n.metadataOf('c1', 'hubspot')).toEqual({ a: null, b: 2, nested: { z: 3 } });
  });

  it('percent-decodes the id: "acme/eu x@y.com" works encoded, and "..%2F" is a literal id', async () => {
    const n = await start();
    expect((await patchLegacy(n, ODD_ID, 'hubspot', { k: 1 })).status).toBe(200);
    expect(n.metadataOf(ODD_ID, 'hubspot')).toEqual({ k: 1 });
    const dots = await call(n.url, 'PATCH', '/connection/..%2F/metadata', {
      key: KEY,
      body: { d: 1 },
      headers: { 'provider-config-key': 'hubspot' },
    });
    expect(dots.status).toBe(200);
    expect(n.metadataOf('../', 'hubspot')).toEqual({ d: 1 });
  });

  it('an unencoded "/" gives Express\'s HTML 404, not JSON', async () => {
    const n = await start();
    const r = await call(n.url, 'PATCH', '/connection/acme/eu/metadata', {
      key: KEY,
      body: { k: 1 },
      headers: { 'provider-config-key': 'hubspot' },
    });
    expect(r.status).toBe(404);
    expect(String(r.headers['content-type'])).toMatch(/^text\/html/);
    expect(r.text).toContain('Cannot PATCH /connection/acme/eu/metadata');
    expect(r.json).toBeUndefined();
  });

  it('does not validate: an array body is merged as {"0": ...} and echoed', async () => {
    const n = await start();
    const r = await patchLegacy(n, 'c2', 'hubspot', ['first', { second: true }]);
    expect(r.status).toBe(200);
    expect(r.json).toEqual(['first', { second: true }]);
    expect(n.metadataOf('c2', 'hubspot')).toEqual({ 0: 'first', 1: { second: true } });
  });

  it('missing Provider-Config-Key: 500 generic_error_support with extra keys, nothing written', async () => {
    const n = await start();
    const r = await patchLegacy(n, 'c1', undefined, { b: 1 });
    expect(r.status).toBe(500);
    expect(r.json.error.code).toBe('generic_error_support');
    expect(r.json.error).toHaveProperty('payload');
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('b');
  });

  it('415 invalid_content_type for a non-JSON Content-Type', async () => {
    const n = await start();
    const r = await call(n.url, 'PATCH', '/connection/c1/metadata', {
      key: KEY,
      body: 'b=1',
      headers: { 'provider-config-key': 'hubspot', 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(r.status).toBe(415);
    expect(r.json.error.code).toBe('invalid_content_type');
  });

  it('404 unknown_connection for an unknown connection or integration', async () => {
    const n = await start();
    for (const [cid, pck] of [
      ['nope', 'hubspot'],
      ['c2', 'salesforce'],
    ] as const) {
      const r = await patchLegacy(n, cid, pck, { b: 1 });
      expect(r.status).toBe(404);
      // The older error shape: the ids in `payload`, and in the message.
      const payload = { connectionId: cid, providerConfigKey: pck };
      expect(r.json).toEqual({
        error: {
          code: 'unknown_connection',
          message: `No connection matching the provided params of 'connection_id' and 'provider_config_key'. Please make sure these values exist in the Nango dashboard ${JSON.stringify(payload, null, 2)}`,
          payload,
        },
      });
    }
  });

  it('POST replaces and answers 201', async () => {
    const n = await start();
    const r = await call(n.url, 'POST', '/connection/c1/metadata', {
      key: KEY,
      body: { r: 1 },
      headers: { 'provider-config-key': 'hubspot' },
    });
    expect(r.status).toBe(201);
    expect(n.metadataOf('c1', 'hubspot')).toEqual({ r: 1 });
  });
});

describe('GET connections', () => {
  it('GET /connections?connectionId= lists exact matches across integrations', async () => {
    const n = await start({
      connections: [
        { connectionId: 'c1', providerConfigKey: 'hubspot', metadata: { a: 1 } },
        { connectionId: 'c1', providerConfigKey: 'salesforce', provider: 'salesforce-sandbox' },
        { connectionId: 'c10', providerConfigKey: 'hubspot' },
      ],
    });
    const r = await call(n.url, 'GET', '/connections?connectionId=c1', { key: KEY });
    expect(r.status).toBe(200);
    const list = r.json.connections as Array<Record<string, unknown>>;
    expect(list.map((c) => c['provider_config_key']).sort()).toEqual(['hubspot', 'salesforce']);
    const sf = list.find((c) => c['provider_config_key'] === 'salesforce')!;
    expect(Object.keys(sf).sort()).toEqual([
      'connection_id',
      'created',
      'end_user',
      'errors',
      'id',
      'metadata',
      'provider',
      'provider_config_key',
      'tags',
    ]);
    expect(sf).toMatchObject({ connection_id: 'c1', provider: 'salesforce-sandbox', tags: {}, errors: [], metadata: null, end_user: null });
    expect(typeof sf['id']).toBe('number');
    const odd = await call(n.url, 'GET', `/connections?connectionId=${encodeURIComponent('nope')}`, { key: KEY });
    expect(odd.json.connections).toEqual([]);
  });

  it('GET /connections/{id}?provider_config_key= returns metadata (null when never set), 404 when unknown', async () => {
    const n = await start();
    const fresh = await call(n.url, 'GET', `/connections/${encodeURIComponent(ODD_ID)}?provider_config_key=hubspot`, { key: KEY });
    expect(fresh.status).toBe(200);
    expect(fresh.json).toMatchObject({ connection_id: ODD_ID, provider_config_key: 'hubspot', metadata: null });
    await patchLegacy(n, ODD_ID, 'hubspot', { k: 'v' });
    const after = await call(n.url, 'GET', `/connections/${encodeURIComponent(ODD_ID)}?provider_config_key=hubspot`, { key: KEY });
    expect(after.json.metadata).toEqual({ k: 'v' });
    const unknown = await call(n.url, 'GET', '/connections/nope?provider_config_key=hubspot', { key: KEY });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('unknown_connection');
  });
});

describe('rate limit', () => {
  it('fixed window: X-RateLimit-* on every authenticated answer, then 429 too_many_request without message', async () => {
    const n = await start({ rateLimit: { limit: 3, windowMs: 400 } });
    const seen: Array<{ status: number; remaining: string }> = [];
    for (let i = 0; i < 4; i++) {
      // Mix statuses: a 404 still counts and still carries the headers.
      const r =
        i === 1
          ? await patchCurrent(n, { connection_id: 'nope', provider_config_key: 'hubspot', metadata: {} })
          : await patchCurrent(n, { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { [`k${i}`]: i } });
      expect(r.headers['x-ratelimit-limit']).toBe('3');
      // The window's end in seconds rounded down: never after the real end, possibly before it.
      expect(Number(r.headers['x-ratelimit-reset'])).toBeLessThanOrEqual(Math.floor((Date.now() + 400) / 1000));
      expect(Number(r.headers['x-ratelimit-reset'])).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) - 1);
      seen.push({ status: r.status, remaining: String(r.headers['x-ratelimit-remaining']) });
      if (r.status === 429) {
        expect(r.json).toEqual({ error: { code: 'too_many_request', method: 'PATCH', path: '/connections/metadata' } });
        expect(r.headers['retry-after']).toMatch(/^\d+$/);
        // Window below one second: Retry-After rounds down to 0, as the real server can say.
        expect(r.headers['retry-after']).toBe('0');
      }
    }
    expect(seen).toEqual([
      { status: 200, remaining: '2' },
      { status: 404, remaining: '1' },
      { status: 200, remaining: '0' },
      { status: 429, remaining: '0' },
    ]);
    // The rejected write was not applied.
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('k3');
    expect(n.stats().rateLimited).toBe(1);
    // Unauthenticated answers carry no rate headers.
    const anon = await call(n.url, 'GET', '/connections', { key: null });
    expect(anon.headers['x-ratelimit-limit']).toBeUndefined();
    // The next window admits again.
    await delay(450);
    const again = await call(n.url, 'GET', '/connections', { key: KEY });
    expect(again.status).toBe(200);
    expect(again.headers['x-ratelimit-remaining']).toBe('2');
  });

  it('Retry-After counts whole seconds left in a long window', async () => {
    const n = await start({ rateLimit: { limit: 1, windowMs: 60_000 } });
    await call(n.url, 'GET', '/connections', { key: KEY });
    const r = await call(n.url, 'GET', '/connections', { key: KEY });
    expect(r.status).toBe(429);
    const ra = Number(r.headers['retry-after']);
    expect(ra).toBeGreaterThanOrEqual(50);
    expect(ra).toBeLessThanOrEqual(60);
  });
});

describe('limits and latency', () => {
  it('413 for a body over 75 MB; a large body under it is accepted', async () => {
    const n = await start();
    const big = `{"blob":"${'x'.repeat(75 * 1024 * 1024)}"}`;
    const r = await call(n.url, 'PATCH', '/connection/c1/metadata', {
      key: KEY,
      body: big,
      headers: { 'content-type': 'application/json', 'provider-config-key': 'hubspot' },
    });
    expect(r.status).toBe(413);
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('blob');
    const ok = await patchLegacy(n, 'c1', 'hubspot', { blob: 'y'.repeat(2 * 1024 * 1024) });
    expect(ok.status).toBe(200);
    expect((n.metadataOf('c1', 'hubspot')!['blob'] as string).length).toBe(2 * 1024 * 1024);
    // Recorded bodies over 1 MB are summarised, not kept.
    expect(n.requests.at(-1)!.body).toMatch(/^<\d+ characters>$/);
  });

  it('latency holds each answer (a client with a shorter deadline gives up)', async () => {
    const n = await start({ latencyMs: 600 });
    await expect(call(n.url, 'GET', '/connections', { key: KEY, timeoutMs: 100 })).rejects.toMatchObject({ name: 'TimeoutError' });
    n.setLatency(0);
    expect((await call(n.url, 'GET', '/connections', { key: KEY, timeoutMs: 1000 })).status).toBe(200);
  });
});

describe('fault injection', () => {
  const body = (k: string) => ({ connection_id: 'c1', provider_config_key: 'hubspot', metadata: { [k]: true } });

  it('status faults answer a JSON StdError and do not write', async () => {
    const n = await start({ fault: () => ({ kind: 'status', status: 503 }) });
    const r = await patchCurrent(n, body('s'));
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('service_unavailable');
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('s');
    expect(n.requests.at(-1)).toMatchObject({ status: 503, fault: 'status' });
  });

  it('rateLimit faults answer 429 with Retry-After and X-RateLimit-*', async () => {
    const n = await start({ fault: () => ({ kind: 'rateLimit', retryAfter: 2 }) });
    const r = await patchLegacy(n, 'c1', 'hubspot', { r: 1 });
    expect(r.status).toBe(429);
    expect(r.json).toEqual({ error: { code: 'too_many_request', method: 'PATCH', path: '/connection/c1/metadata' } });
    expect(r.headers['retry-after']).toBe('2');
    expect(r.headers['x-ratelimit-remaining']).toBe('0');
    expect(r.headers['x-ratelimit-limit']).toBeDefined();
    expect(r.headers['x-ratelimit-reset']).toBeDefined();
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('r');
  });

  it('reset faults destroy the socket; nothing is written', async () => {
    const n = await start({ fault: () => ({ kind: 'reset' }) });
    await expect(patchCurrent(n, body('x'))).rejects.toThrow();
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('x');
    expect(n.requests.at(-1)).toMatchObject({ status: 0, fault: 'reset' });
  });

  it('delay faults outlast the client; the write is not applied unless apply is set', async () => {
    const n = await start({ fault: () => ({ kind: 'delay', ms: 400 }) });
    await expect(call(n.url, 'PATCH', '/connections/metadata', { key: KEY, body: body('d'), timeoutMs: 100 })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    await expect.poll(() => n.requests.at(-1)?.status, { timeout: 5000 }).toBe(504);
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('d');

    n.setFault(() => ({ kind: 'delay', ms: 300, apply: true }));
    await expect(call(n.url, 'PATCH', '/connections/metadata', { key: KEY, body: body('late'), timeoutMs: 100 })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    // The server commits after the client gave up: the ambiguous timeout.
    await expect.poll(() => n.metadataOf('c1', 'hubspot')?.['late'], { timeout: 5000 }).toBe(true);
  });

  it('html faults answer a proxy error page', async () => {
    const n = await start({ fault: () => ({ kind: 'html', status: 502 }) });
    const r = await patchCurrent(n, body('h'));
    expect(r.status).toBe(502);
    expect(String(r.headers['content-type'])).toMatch(/^text\/html/);
    expect(r.text).toContain('502 Bad Gateway');
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('h');
  });

  it('the hook sees method, raw path, decoded ids and counters, and can fail only first attempts', async () => {
    const seen: unknown[] = [];
    const n = await start({
      fault: (req) => {
        seen.push(req);
        return req.connectionN === 1 ? { kind: 'status', status: 500 } : undefined;
      },
    });
    expect((await patchLegacy(n, ODD_ID, 'hubspot', { t: 1 })).status).toBe(500);
    expect((await patchLegacy(n, ODD_ID, 'hubspot', { t: 2 })).status).toBe(200);
    expect((await patchCurrent(n, body('c'))).status).toBe(500);
    expect(seen[0]).toEqual({
      method: 'PATCH',
      path: `/connection/${encodeURIComponent(ODD_ID)}/metadata`,
      n: 1,
      connectionId: ODD_ID,
      connectionIds: [ODD_ID],
      providerConfigKey: 'hubspot',
      connectionN: 1,
    });
    expect(seen[2]).toMatchObject({ n: 3, connectionId: 'c1', providerConfigKey: 'hubspot', connectionN: 1 });
    expect(n.applyHistory(ODD_ID, 'hubspot').map((w) => w.patch)).toEqual([{ t: 2 }]);
  });

  it('probabilityFaults is reproducible with a seed and honours rate 0 and 1', async () => {
    const run = async (seed: number) => {
      const n = await start({
        fault: probabilityFaults({ rate: 0.5, seed, faults: [{ kind: 'status', status: 500 }, [{ kind: 'status', status: 502 }, 2]] }),
      });
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await patchCurrent(n, body(`p${i}`))).status);
      await n.close();
      nango = undefined;
      return statuses;
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect(new Set(a)).toEqual(new Set([200, 500, 502]));
    const none = probabilityFaults({ rate: 0, faults: [{ kind: 'reset' }] });
    const all = probabilityFaults({ rate: 1, faults: [{ kind: 'reset' }] });
    const req = { method: 'PATCH', path: '/connections/metadata', n: 1 };
    expect(Array.from({ length: 50 }, () => none(req)).filter(Boolean)).toHaveLength(0);
    expect(Array.from({ length: 50 }, () => all(req)).filter(Boolean)).toHaveLength(50);
    expect(all({ ...req, method: 'GET' })).toBeUndefined();
  });
});

describe('concurrency: lost updates and overlap accounting', () => {
  const twenty = (n: NangoStandin, route: 'current' | 'legacy') =>
    Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        route === 'current'
          ? patchCurrent(n, { connection_id: 'c2', provider_config_key: 'hubspot', metadata: { [`k${i}`]: i } })
          : patchLegacy(n, 'c2', 'hubspot', { [`k${i}`]: i }),
      ),
    );

  it.each(['current', 'legacy'] as const)('race mode: 20 concurrent PATCHes (%s) lose updates; sequential ones do not', async (route) => {
    const n = await start({ raceMode: true });
    const res = await twenty(n, route);
    expect(res.every((r) => r.status === 200)).toBe(true);
    expect(Object.keys(n.metadataOf('c2', 'hubspot')!).length).toBeLessThan(20);
    expect(n.stats().overlaps).toBeGreaterThan(0);

    n.addConnection({ connectionId: 'c2', providerConfigKey: 'hubspot', metadata: {} });
    for (let i = 0; i < 20; i++) await patchCurrent(n, { connection_id: 'c2', provider_config_key: 'hubspot', metadata: { [`k${i}`]: i } });
    expect(Object.keys(n.metadataOf('c2', 'hubspot')!)).toHaveLength(20);
  });

  it('default mode applies atomically but records overlaps and max concurrency per connection', async () => {
    const n = await start({ latencyMs: 50 });
    await twenty(n, 'current');
    expect(Object.keys(n.metadataOf('c2', 'hubspot')!)).toHaveLength(20);
    const s = n.stats();
    expect(s.overlaps).toBeGreaterThan(0);
    expect(s.maxConcurrentPerConnection).toBeGreaterThan(1);
    expect(n.applyHistory('c2', 'hubspot')).toHaveLength(20);

    n.reset();
    for (let i = 0; i < 3; i++) await patchLegacy(n, 'c2', 'hubspot', { s: i });
    // Concurrent writes to different connections are not overlaps.
    await Promise.all([patchLegacy(n, 'c1', 'hubspot', { p: 1 }), patchLegacy(n, 'c2', 'hubspot', { p: 2 })]);
    expect(n.stats()).toMatchObject({ overlaps: 0, maxConcurrentPerConnection: 1, patches: 5, applied: 5 });
  });
});

describe('recording', () => {
  it('records requests with the key redacted, parsed bodies, statuses and times; apply history has before/after', async () => {
    const n = await start();
    await patchCurrent(n, { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { b: 1 } });
    await patchLegacy(n, 'c1', 'hubspot', { c: 2 });
    await call(n.url, 'GET', '/connections?connectionId=c1', { key: KEY });
    expect(n.requests).toHaveLength(3);
    const [first, second, third] = n.requests;
    expect(first).toMatchObject({
      n: 1,
      method: 'PATCH',
      path: '/connections/metadata',
      status: 200,
      body: { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { b: 1 } },
    });
    expect(first!.headers['authorization']).toBe('Bearer REDACTED');
    expect(second!.headers['provider-config-key']).toBe('hubspot');
    expect(third).toMatchObject({ query: { connectionId: 'c1' }, status: 200 });
    expect(first!.endedAt!).toBeGreaterThanOrEqual(first!.startedAt);
    expect(JSON.stringify(n.requests)).not.toContain(KEY);
    expect(n.stats()).toMatchObject({ requests: 3, patches: 2, applied: 2, byStatus: { 200: 3 } });
    const h = n.applyHistory('c1', 'hubspot');
    expect(h.map((w) => [w.route, w.before, w.after])).toEqual([
      ['current', { a: 1, nested: { x: 1, y: 2 } }, { a: 1, nested: { x: 1, y: 2 }, b: 1 }],
      ['legacy', { a: 1, nested: { x: 1, y: 2 }, b: 1 }, { a: 1, nested: { x: 1, y: 2 }, b: 1, c: 2 }],
    ]);
    n.reset();
    expect(n.requests).toHaveLength(0);
    expect(n.stats().requests).toBe(0);
    expect(n.metadataOf('c1', 'hubspot')).toMatchObject({ b: 1, c: 2 });
  });

  it('connections(), addConnection and removeConnection manage the seed', async () => {
    const n = await start({ connections: [] });
    n.addConnection({ connectionId: 'z', providerConfigKey: 'hubspot', metadata: { q: 1 } });
    expect(n.connections()).toEqual([
      { connectionId: 'z', providerConfigKey: 'hubspot', provider: 'hubspot', metadata: { q: 1 }, tags: {}, created: expect.any(String) },
    ]);
    n.removeConnection('z', 'hubspot');
    expect(n.metadataOf('z', 'hubspot')).toBeUndefined();
    expect((await patchLegacy(n, 'z', 'hubspot', { q: 2 })).status).toBe(404);
  });
});

describe('close()', () => {
  it('ends open keep-alive sockets and pending delays, then refuses connections', async () => {
    const n = await start({ fault: (r) => (r.method === 'PATCH' ? { kind: 'delay', ms: 60_000 } : undefined) });
    expect((await call(n.url, 'GET', '/connections', { key: KEY })).status).toBe(200); // leaves a keep-alive socket
    const pending = patchCurrent(n, { connection_id: 'c1', provider_config_key: 'hubspot', metadata: { z: 1 } });
    await expect.poll(() => n.requests.length).toBe(2);
    await n.close();
    await expect(pending).rejects.toThrow();
    await expect(call(n.url, 'GET', '/connections', { key: KEY })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(n.metadataOf('c1', 'hubspot')).not.toHaveProperty('z');
    nango = undefined;
  });

  it("unmatched routes answer Express's HTML 404 before auth", async () => {
    const n = await start();
    const r = await call(n.url, 'DELETE', '/connections/metadata', { key: null });
    expect(r.status).toBe(404);
    expect(r.text).toContain('Cannot DELETE /connections/metadata');
  });
});
