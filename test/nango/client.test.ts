/**
 * The Nango client (undici) against the local Nango stand-in: both endpoints, ids Nango allows but
 * URLs mangle, error parsing, the 401 re-fetch, timeouts bounded by the deadline, and pacing from
 * X-RateLimit-* headers.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpNangoClient, type EndpointStyle } from '#commons/nango/http-client';
import { NangoError } from '#commons/nango/errors';
import type { KeyProvider, NangoCredentials } from '#commons/secrets';
import { startNangoStandin, type NangoStandin } from '../../local/standins/nango.ts';

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
    expect(e).toBeInstanceOf(NangoError);
    expect(e).toMatchObject({ kind: 'permanent', status: 404, code: 'unknown_connection' });
  });

  it('refuses a newline or an over-long id before sending anything', async () => {
    const n = nango.requests.length;
    for (const connectionId of ['a\nb', 'x'.repeat(256)]) {
      await expect(
        client(endpoint).patchMetadata({ connectionId, providerConfigKey: 'salesforce' }, { a: 1 }, soon()),
      ).rejects.toMatchObject({ code: 'invalid_connection_id', kind: 'permanent' });
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
    expect(e).toMatchObject({ kind: 'permanent', status: 401, code: 'unknown_account' });
    expect(JSON.stringify({ ...e, message: e.message, stack: e.stack })).not.toContain(wrong);
  });

  it('never sends or records the key anywhere but the Authorization header', async () => {
    await client('current').patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { ok: 1 }, soon());
    expect(JSON.stringify(nango.requests)).not.toContain(KEY);
  });
});

describe('transient failures', () => {
  it('parses a 429 with Retry-After into a retryable error with the 1 s floor', async () => {
    nango.setFault(() => ({ kind: 'rateLimit', retryAfter: 0 }));
    const e = await client('current')
      .patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { a: 1 }, soon())
      .catch((x) => x);
    expect(e).toMatchObject({ kind: 'transient', status: 429, code: 'too_many_request', retryAfterMs: 1000 });
  });

  it('classifies a 502 HTML page and a reset as transient', async () => {
    nango.setFault(() => ({ kind: 'html', status: 502 }));
    await expect(
      client('current').patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { a: 1 }, soon()),
    ).rejects.toMatchObject({ kind: 'transient', status: 502, code: 'non_json_response' });
    nango.setFault(() => ({ kind: 'reset' }));
    await expect(
      client('current').patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { a: 1 }, soon()),
    ).rejects.toMatchObject({ kind: 'transient', code: 'network_error' });
  });

  it('cuts a slow answer at the deadline, well before the client timeout', async () => {
    nango.setLatency(3000);
    const t0 = Date.now();
    const e = await client('current', undefined, 10_000)
      .patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { a: 1 }, { deadline: Date.now() + 300 })
      .catch((x) => x);
    expect(e).toMatchObject({ kind: 'transient', code: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(2500);
  });
});

describe('reads', () => {
  it('lists every integration of a connection id', async () => {
    expect(await client('current').listIntegrations('acme', soon())).toEqual(['hubspot', 'salesforce']);
    expect(await client('current').listIntegrations('nobody', soon())).toEqual([]);
  });

  it("reads one connection's metadata", async () => {
    expect(await client('current').getMetadata({ connectionId: SPECIAL, providerConfigKey: 'salesforce' }, soon())).toMatchObject({
      region: expect.any(String),
    });
  });
});
