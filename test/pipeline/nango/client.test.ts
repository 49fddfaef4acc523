/**
 * The Nango client (undici) against the local Nango stand-in: both endpoints, ids Nango allows but
 * URLs mangle, error parsing, the 401 re-fetch, timeouts bounded by the deadline, and the list
 * endpoint with filters and paging.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpNangoClient, type EndpointStyle } from '#commons/nango/http-client';
import { Failure } from '#commons/failure';
import { listAllConnections } from '#commons/nango/list';
import { subjectForLog } from '#powertools/logger';
import type { KeyProvider, NangoCredentials } from '#commons/secrets';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';

const KEY = randomUUID();
const SPECIAL = 'acme/eu x@y.com';
let nango: NangoStandin;
const clients: HttpNangoClient[] = [];

/** A key source whose cached key goes stale: `set` changes what the next refresh (not get) returns. */
function rotatingKeys(initial: string) {
  let cached = initial;
  let stored = initial;
  let fetches = 0;
  const provider: KeyProvider = {
    get: async () => ({ secretKey: cached }),
    refresh: async (_stale: NangoCredentials) => {
      fetches++;
      cached = stored;
      return { secretKey: cached };
    },
  };
  return { provider, set: (k: string) => (stored = k), fetches: () => fetches };
}

function client(endpoint: EndpointStyle, keys: KeyProvider = rotatingKeys(KEY).provider, timeoutMs = 2000) {
  const c = new HttpNangoClient({ host: nango.url, endpoint, keys, timeoutMs });
  clients.push(c);
  return c;
}
const soon = () => ({ deadline: Date.now() + 5000 });

beforeAll(async () => {
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: [
      { connectionId: 'u-1', providerConfigKey: 'hubspot', tags: { organization_id: 'acme', end_user_id: 'ann' }, metadata: { seeded: 1 } },
      { connectionId: 'u-2', providerConfigKey: 'salesforce', tags: { organization_id: 'acme', end_user_id: 'bob' } },
      ...Array.from({ length: 7 }, (_, i) => ({ connectionId: `b${i}`, providerConfigKey: 'hubspot', tags: { batch: 'b' } })),
      { connectionId: 'acme', providerConfigKey: 'salesforce', metadata: { plan: 'starter', nested: { a: 1 } } },
      { connectionId: 'acme', providerConfigKey: 'hubspot', metadata: null },
      { connectionId: SPECIAL, providerConfigKey: 'salesforce', metadata: {} },
      { connectionId: '..', providerConfigKey: 'salesforce', metadata: {} },
    ],
  });
});
afterEach(() => {
  nango.setFault(undefined);
  nango.setLatency(0);
  nango.setSecretKey(KEY);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await nango.close();
});

describe.each(['current', 'legacy'] as const)('%s endpoint', (endpoint) => {
  it('shallow-merges: null stored, nested objects replaced', async () => {
    const before = nango.metadataOf('acme', 'salesforce');
    await client(endpoint).patchMetadata(
      { connectionId: 'acme', providerConfigKey: 'salesforce' },
      { plan: 'pro', nested: { b: 2 }, gone: null },
      soon(),
    );
    expect(nango.metadataOf('acme', 'salesforce')).toEqual({ ...before, plan: 'pro', nested: { b: 2 }, gone: null });
  });

  it('reaches ids with "/", spaces and "@" at the right connection', async () => {
    await client(endpoint).patchMetadata({ connectionId: SPECIAL, providerConfigKey: 'salesforce' }, { region: endpoint }, soon());
    expect(nango.metadataOf(SPECIAL, 'salesforce')).toMatchObject({ region: endpoint });
    const last = nango.requests.at(-1)!;
    if (endpoint === 'legacy') expect(last.path).toBe('/connection/acme%2Feu%20x%40y.com/metadata');
    else expect(last.path).toBe('/connections/metadata');
  });

  it('treats ".." as a literal id, never as a path', async () => {
    await client(endpoint).patchMetadata({ connectionId: '..', providerConfigKey: 'salesforce' }, { [`dots_${endpoint}`]: true }, soon());
    expect(nango.metadataOf('..', 'salesforce')).toMatchObject({ [`dots_${endpoint}`]: true });
    if (endpoint === 'legacy') expect(nango.requests.at(-1)!.path).toBe('/connection/%2E%2E/metadata');
  });

  it('maps an unknown connection to a permanent unknown_connection error', async () => {
    const e = await client(endpoint)
      .patchMetadata({ connectionId: 'nobody', providerConfigKey: 'salesforce' }, { a: 1 }, soon())
      .catch((x) => x);
    expect(e).toBeInstanceOf(Failure);
    expect(e).toMatchObject({ retryable: false, status: 404, code: 'unknown_connection' });
  });

  it('refuses a newline or an over-long id before sending anything', async () => {
    const n = nango.requests.length;
    for (const connectionId of ['a\nb', 'x'.repeat(256)]) {
      await expect(
        client(endpoint).patchMetadata({ connectionId, providerConfigKey: 'salesforce' }, { a: 1 }, soon()),
      ).rejects.toMatchObject({ code: 'invalid_connection_id', retryable: false });
    }
    expect(nango.requests.length).toBe(n);
  });
});

describe('authentication', () => {
  it('fetches the key again on 401 and retries once', async () => {
    const keys = rotatingKeys(randomUUID());
    const c = client('current', keys.provider);
    const newKey = randomUUID();
    nango.setSecretKey(newKey);
    keys.set(newKey);
    await c.patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { rotated: true }, soon());
    expect(keys.fetches()).toBe(1);
    expect(nango.metadataOf('acme', 'hubspot')).toMatchObject({ rotated: true });
  });

  it('makes a second 401 permanent, and never puts the key in the error', async () => {
    const wrong = randomUUID();
    const e = await client('current', rotatingKeys(wrong).provider)
      .patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { a: 1 }, soon())
      .catch((x) => x);
    expect(e).toMatchObject({ retryable: false, status: 401, code: 'unknown_account' });
    expect(JSON.stringify({ ...e, message: e.message, stack: e.stack })).not.toContain(wrong);
  });

  it('never sends or records the key anywhere but the Authorization header', async () => {
    await client('current').patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { ok: 1 }, soon());
    expect(JSON.stringify(nango.requests)).not.toContain(KEY);
  });
});

describe('transient failures', () => {
  it('parses a 429 with Retry-After: 0 into a retryable error that waits until the reset bounds the window (under a second)', async () => {
    nango.setFault(() => ({ kind: 'rateLimit', retryAfter: 0 }));
    const before = Date.now();
    const e = await client('current')
      .patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { a: 1 }, soon())
      .catch((x) => x);
    expect(e).toMatchObject({ retryable: true, status: 429, code: 'too_many_request' });
    // The reset names this second: the window has certainly ended by the next one.
    expect(e.retryAfterMs).toBeGreaterThanOrEqual(50);
    expect(e.retryAfterMs).toBeLessThanOrEqual(Math.floor(before / 1000) * 1000 + 2000 - before);
    expect(e.retryAfterMs).toBeLessThanOrEqual(1000);
  });

  it('classifies a 502 HTML page and a reset as transient', async () => {
    nango.setFault(() => ({ kind: 'html', status: 502 }));
    await expect(
      client('current').patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { a: 1 }, soon()),
    ).rejects.toMatchObject({ retryable: true, status: 502, code: 'non_json_response' });
    nango.setFault(() => ({ kind: 'reset' }));
    await expect(
      client('current').patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { a: 1 }, soon()),
    ).rejects.toMatchObject({ retryable: true, code: 'network_error' });
  });

  it('cuts a slow answer at the deadline, well before the client timeout', async () => {
    nango.setLatency(3000);
    const t0 = Date.now();
    const e = await client('current', undefined, 10_000)
      .patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { a: 1 }, { deadline: Date.now() + 300 })
      .catch((x) => x);
    expect(e).toMatchObject({ retryable: true, code: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(2500);
  });
});

describe('listConnections', () => {
  it('filters by tags (AND), connection id and integrations, and reads tags, metadata and created', async () => {
    const c = client('current');
    const acme = await c.listConnections({ tags: { organization_id: 'acme' } }, { limit: 100, page: 0 }, soon());
    expect(acme.map((x) => x.connectionId).sort()).toEqual(['u-1', 'u-2']);
    expect(acme.find((x) => x.connectionId === 'u-1')).toEqual({
      connectionId: 'u-1',
      providerConfigKey: 'hubspot',
      provider: 'hubspot',
      tags: { organization_id: 'acme', end_user_id: 'ann' },
      metadata: { seeded: 1 },
      created: expect.any(String),
    });
    const bob = await c.listConnections({ tags: { organization_id: 'acme', end_user_id: 'bob' } }, { limit: 100, page: 0 }, soon());
    expect(bob.map((x) => x.connectionId)).toEqual(['u-2']);
    const byId = await c.listConnections({ connectionId: 'acme' }, { limit: 100, page: 0 }, soon());
    expect(byId.map((x) => x.providerConfigKey).sort()).toEqual(['hubspot', 'salesforce']);
    expect(byId.find((x) => x.providerConfigKey === 'salesforce')!.metadata).toMatchObject({ nested: expect.any(Object) });
    const sf = await c.listConnections(
      { connectionId: 'acme', integrationIds: ['salesforce', 'pipedrive'] },
      { limit: 100, page: 0 },
      soon(),
    );
    expect(sf.map((x) => x.providerConfigKey)).toEqual(['salesforce']);
    expect(await c.listConnections({ tags: { organization_id: 'nobody' } }, { limit: 100, page: 0 }, soon())).toEqual([]);
    const last = nango.requests.at(-1)!;
    expect(last.path).toBe('/connections');
    expect(last.query).toEqual({ 'tags[organization_id]': 'nobody', limit: '100', page: '0' });
  });

  it('pages with limit and a 0-based page', async () => {
    const c = client('current');
    const page = (p: number) => c.listConnections({ tags: { batch: 'b' } }, { limit: 3, page: p }, soon());
    const pages = [await page(0), await page(1), await page(2)];
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(new Set(pages.flat().map((x) => x.connectionId)).size).toBe(7);
  });

  it('refuses a filter or page Nango would refuse (or mangle) before sending anything', async () => {
    const c = client('current');
    const n = nango.requests.length;
    const bad: Array<[Parameters<HttpNangoClient['listConnections']>[0], RegExp]> = [
      [{ tags: { Organization_Id: 'acme' } }, /tags\.Organization_Id: tag key must be lowercase/],
      [{ tags: { organization_id: '' } }, /empty/],
      [{ tags: { k: 'v'.repeat(256) } }, /255/],
      [{ tags: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) }, /at most 10 tags/],
      [{ connectionId: 'a\nb' }, /connection id: connection id has characters/],
      [{ integrationIds: ['sales/force'] }, /provider config key: provider config key has characters/],
      [{ integrationIds: [' hubspot'] }, /spaces/],
      [{ integrationIds: [] }, /empty/],
    ];
    const codes = { connectionId: 'invalid_connection_id', integrationIds: 'invalid_provider_config_key', tags: 'invalid_filter' };
    for (const [filter, message] of bad) {
      const e = await c.listConnections(filter, { limit: 10, page: 0 }, soon()).catch((x) => x);
      const field = Object.keys(filter)[0] as keyof typeof codes;
      expect(e, JSON.stringify(filter)).toMatchObject({ code: codes[field], retryable: false });
      expect(e.message).toMatch(message);
    }
    for (const page of [
      { limit: 0, page: 0 },
      { limit: 2001, page: 0 },
      { limit: 10, page: -1 },
      { limit: 1.5, page: 0 },
    ]) {
      await expect(c.listConnections({}, page, soon())).rejects.toMatchObject({ code: 'invalid_page' });
    }
    expect(nango.requests.length).toBe(n);
  });

  it('refuses an answer that lists a connection outside the filter (a server ignoring it)', async () => {
    nango.setFault((r) =>
      r.method === 'GET'
        ? {
            kind: 'status',
            status: 200,
            body: { connections: [{ connection_id: 'other', provider_config_key: 'hubspot', tags: { organization_id: 'globex' } }] },
          }
        : undefined,
    );
    await expect(
      client('current').listConnections({ tags: { organization_id: 'acme' } }, { limit: 10, page: 0 }, soon()),
    ).rejects.toMatchObject({
      code: 'filter_ignored',
      retryable: false,
    });
  });

  it('never takes an unreadable 200 for "no connections"', async () => {
    for (const body of [{ connections: 'nope' }, { connections: [{ connection_id: 1, provider_config_key: 'x' }] }, ['x']]) {
      nango.setFault(() => ({ kind: 'status', status: 200, body }));
      await expect(client('current').listConnections({}, { limit: 10, page: 0 }, soon())).rejects.toMatchObject({
        code: 'unexpected_response',
        retryable: true,
      });
    }
  });
});

describe('listAllConnections', () => {
  it('pages until a short page and returns every match once', async () => {
    const c = client('current');
    const from = nango.requests.length;
    const all = await listAllConnections(c, { tags: { batch: 'b' } }, { pageSize: 3, max: 100, deadline: Date.now() + 5000 });
    expect(all.map((x) => x.connectionId).sort()).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6']);
    expect(nango.requests.slice(from).map((r) => r.query['page'])).toEqual(['0', '1', '2']);
    // An exact multiple of the page size ends with an empty page.
    const six = await listAllConnections(c, { tags: { batch: 'b' } }, { pageSize: 7, max: 100, deadline: Date.now() + 5000 });
    expect(six).toHaveLength(7);
  });

  it('throws a permanent too_many_connections naming the filter and the cap', async () => {
    const e = await listAllConnections(
      client('current'),
      { tags: { batch: 'b' } },
      { pageSize: 2, max: 5, deadline: Date.now() + 5000 },
    ).catch((x) => x);
    expect(e).toMatchObject({ code: 'too_many_connections', retryable: false });
    // The tag value as logs show a subject: a digest, unless LOG_SUBJECT_IDS is on.
    expect(e.message).toContain(`batch=${subjectForLog('b')}`);
    expect(e.message).not.toContain('"b"');
    expect(e.message).toContain('5');
  });

  it('stops when the server ignores page (a full page with nothing new)', async () => {
    const same = { connections: [0, 1].map((i) => ({ connection_id: `b${i}`, provider_config_key: 'hubspot', tags: { batch: 'b' } })) };
    nango.setFault(() => ({ kind: 'status', status: 200, body: same }));
    await expect(
      listAllConnections(client('current'), { tags: { batch: 'b' } }, { pageSize: 2, max: 100, deadline: Date.now() + 5000 }),
    ).rejects.toMatchObject({ code: 'unexpected_response' });
  });
});
