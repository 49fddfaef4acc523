/**
 * The Nango stand-in against facts observed on a real Nango server, over real HTTP: where they
 * differ, the stand-in is wrong. Each case here once failed against the stand-in.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startNangoStandin, type NangoStandin, type NangoStandinOptions } from '../../../local/standins/nango.ts';
import { call } from './http.ts';

const KEY = randomUUID();
let nango: NangoStandin | undefined;

afterEach(async () => {
  await nango?.close();
  nango = undefined;
});

async function start(o: Partial<NangoStandinOptions> = {}): Promise<NangoStandin> {
  nango = await startNangoStandin({ secretKey: KEY, connections: [{ connectionId: 'u-1', providerConfigKey: 'hubspot' }], ...o });
  return nango;
}

const rateHeaders = (h: Record<string, unknown>) => Object.keys(h).filter((k) => k.startsWith('x-ratelimit-'));

describe('rate-limit headers without a configured limit', () => {
  it('every authenticated answer carries X-RateLimit-*, a 60 s window from the first request, reset rounded down', async () => {
    const n = await start();
    const before = Date.now();
    const answers = [
      await call(n.url, 'GET', '/connections', { key: KEY }),
      await call(n.url, 'GET', '/connections?limit=0', { key: KEY }),
      await call(n.url, 'PATCH', '/connections/metadata', {
        key: KEY,
        body: { connection_id: 'nope', provider_config_key: 'hubspot', metadata: {} },
      }),
      await call(n.url, 'PATCH', '/connections/metadata?x=1', { key: KEY, body: {} }),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 400, 404, 400]);
    const limit = Number(answers[0]!.headers['x-ratelimit-limit']);
    expect(limit).toBeGreaterThanOrEqual(100_000);
    answers.forEach((r, i) => {
      expect(r.headers['x-ratelimit-limit']).toBe(String(limit));
      expect(r.headers['x-ratelimit-remaining']).toBe(String(limit - 1 - i));
      const reset = Number(r.headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThanOrEqual(Math.floor((before + 60_000) / 1000));
      expect(reset).toBeLessThanOrEqual(Math.floor((Date.now() + 60_000) / 1000));
    });
    // Unauthenticated answers and the 415 (checked before auth) carry none.
    expect(rateHeaders((await call(n.url, 'GET', '/connections')).headers)).toEqual([]);
    const ct = await call(n.url, 'PATCH', '/connections/metadata', { key: KEY, body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(ct.status).toBe(415);
    expect(rateHeaders(ct.headers)).toEqual([]);
  });

  it('a 403 forbidden is an authenticated answer: it carries them too', async () => {
    const other = randomUUID();
    const n = await start({ forbiddenKeys: [other] });
    const r = await call(n.url, 'PATCH', '/connections/metadata', {
      key: other,
      body: { connection_id: 'u-1', provider_config_key: 'hubspot', metadata: {} },
    });
    expect(r.status).toBe(403);
    expect(rateHeaders(r.headers).sort()).toEqual(['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']);
  });
});

describe('403 forbidden per scope', () => {
  it('a key without environment:connections:list gets 403 on GET /connections, and may still write', async () => {
    const noList = randomUUID();
    const n = await start({ unlistableKeys: [noList] });
    const listed = await call(n.url, 'GET', '/connections', { key: noList });
    expect(listed.status).toBe(403);
    expect(listed.json.error.code).toBe('forbidden');
    expect(listed.json.error.message).toContain('environment:connections:list');
    expect(listed.json.connections).toBeUndefined();
    const written = await call(n.url, 'PATCH', '/connections/metadata', {
      key: noList,
      body: { connection_id: 'u-1', provider_config_key: 'hubspot', metadata: { a: 1 } },
    });
    expect(written.status).toBe(200);
    expect(n.metadataOf('u-1', 'hubspot')).toEqual({ a: 1 });
    // The account's full key lists as before.
    expect((await call(n.url, 'GET', '/connections', { key: KEY })).status).toBe(200);
  });
});

describe('an injected 429 speaks for the same account', () => {
  it('its X-RateLimit-Limit is the limit every other answer names', async () => {
    let faulty = false;
    const n = await start({ fault: () => (faulty ? { kind: 'rateLimit', retryAfter: 0 } : undefined) });
    const ok = await call(n.url, 'GET', '/connections', { key: KEY });
    faulty = true;
    const limited = await call(n.url, 'GET', '/connections', { key: KEY });
    expect([ok.status, limited.status]).toEqual([200, 429]);
    expect(limited.headers['x-ratelimit-limit']).toBe(ok.headers['x-ratelimit-limit']);
    expect(limited.headers['retry-after']).toBe('0');
  });
});
