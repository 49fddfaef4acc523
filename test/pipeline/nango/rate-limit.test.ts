/**
 * The gate against the stand-in's fixed window, which answers like the real server (reset rounded
 * down to the second, Retry-After rounded down, often 0): under load one client gets no 429 at all,
 * and two clients sharing the account get 429s that are retried, never surfaced.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpNangoClient } from '#commons/nango/http-client';
import { RateLimitGate } from '#commons/nango/rate-limit';
import { withRetries } from '#commons/retry';
import { staticKeyProvider } from '#commons/secrets';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';

const KEY = randomUUID();
let nango: NangoStandin | undefined;
const clients: HttpNangoClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await nango?.close();
  nango = undefined;
});

async function setup(limit: number, windowMs: number) {
  nango = await startNangoStandin({
    secretKey: KEY,
    rateLimit: { limit, windowMs },
    connections: [{ connectionId: 'acme', providerConfigKey: 'hubspot', tags: { organization_id: 'acme' } }],
  });
  return nango;
}
const client = (n: NangoStandin, windowMs: number) => {
  const c = new HttpNangoClient({
    host: n.url,
    endpoint: 'current',
    keys: staticKeyProvider(KEY),
    timeoutMs: 5000,
    gate: new RateLimitGate(windowMs),
  });
  clients.push(c);
  return c;
};

describe('pacing against the real window', () => {
  it('one client, 24 concurrent calls through windows of 5 per 400 ms: no 429', async () => {
    const n = await setup(5, 400);
    const c = client(n, 400);
    const deadline = Date.now() + 20_000;
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        i % 2
          ? c.patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, { [`k${i}`]: i }, { deadline })
          : c.listConnections({ tags: { organization_id: 'acme' } }, { limit: 10, page: 0 }, { deadline }),
      ),
    );
    expect(results).toHaveLength(24);
    expect(n.stats().rateLimited).toBe(0);
    expect(n.stats().byStatus[200]).toBe(24);
    // 5 windows at least: the gate did wait for each window's end.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4 * 400);
  });

  it('a window over a second long, whose rounded-down reset comes early: still no 429', async () => {
    const n = await setup(3, 1_300);
    const c = client(n, 1_300);
    const deadline = Date.now() + 20_000;
    await Promise.all(Array.from({ length: 9 }, () => c.listConnections({}, { limit: 10, page: 0 }, { deadline })));
    expect(n.stats().rateLimited).toBe(0);
  });

  it('two clients sharing the account: the 429s they meet are retried after the window, none surface', async () => {
    const n = await setup(4, 500);
    const a = client(n, 500);
    const b = client(n, 500);
    const deadline = Date.now() + 30_000;
    const one = (c: HttpNangoClient) =>
      withRetries(() => c.listConnections({}, { limit: 10, page: 0 }, { deadline }), {
        deadline,
        maxAttempts: 10,
        baseMs: 10,
        capMs: 50,
        minAttemptMs: 50,
      });
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => one(i % 2 ? a : b)));
    expect(results.every((r) => Array.isArray(r.value))).toBe(true);
    expect(n.stats().byStatus[200]).toBe(16);
  });

  it('a window another client opened: resumes by the first answer it saw + the window, before the rounded reset + 1 s', async () => {
    const windowMs = 1_000;
    const n = await setup(4, windowMs);
    const other = client(n, windowMs);
    const c = client(n, windowMs);
    const list = (x: HttpNangoClient) => x.listConnections({}, { limit: 10, page: 0 }, { deadline: Date.now() + 20_000 });
    // Open the window just after a second starts: the rounded-down reset + 1 s then comes almost a
    // second after the real end, which is where a gate that did not see the window open used to resume.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    await list(other);
    const opened = n.requests[0]!.startedAt;
    // Three left in this window; the fourth call must wait for the next one.
    await Promise.all(Array.from({ length: 4 }, () => list(c)));
    expect(n.stats().rateLimited).toBe(0);
    const fourth = n.requests.at(-1)!.startedAt;
    const roundedBound = Math.floor((opened + windowMs) / 1000) * 1000 + 1000;
    expect(fourth).toBeGreaterThanOrEqual(opened + windowMs);
    expect(fourth).toBeLessThan(roundedBound - 200);
  });
});
