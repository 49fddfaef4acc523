import { describe, expect, it } from 'vitest';
import { errorFromException, errorFromResponse, kindForStatus } from '#commons/nango/errors';
import { RateLimitGate, readRateLimit, retryAfterMs } from '#commons/nango/rate-limit';
import { coalesce } from '#commons/coalesce';
import { NangoError } from '#commons/nango/errors';
import { withRetries, AttemptsExhausted } from '#commons/retry';

describe('error classification (the failure table)', () => {
  it.each([
    [400, 'permanent'],
    [403, 'permanent'],
    [404, 'permanent'],
    [413, 'permanent'],
    [415, 'permanent'],
    [401, 'auth'],
    [408, 'transient'],
    [429, 'transient'],
    [500, 'transient'],
    [502, 'transient'],
    [503, 'transient'],
  ] as const)('%i is %s', (status, kind) => expect(kindForStatus(status)).toBe(kind));

  it('parses a real StdError leniently, extra keys and all', () => {
    const e = errorFromResponse(
      404,
      'application/json',
      JSON.stringify({ error: { code: 'unknown_connection', message: 'No connection', payload: {}, method: 'PATCH', path: '/x' } }),
    );
    expect(e.toFailure()).toEqual({ status: 404, code: 'unknown_connection', message: 'No connection', retryable: false });
  });

  it('gives 429 without a message a readable one', () => {
    const e = errorFromResponse(429, 'application/json', '{"error":{"code":"too_many_request"}}', 2000);
    expect(e).toMatchObject({ code: 'too_many_request', retryable: true, retryAfterMs: 2000 });
    expect(e.message).toContain('429');
  });

  it('turns an HTML page into a synthetic code with a short tag-free excerpt', () => {
    const e = errorFromResponse(
      404,
      'text/html; charset=utf-8',
      '<!DOCTYPE html><html><body><pre>Cannot PATCH /connection/a/b/metadata</pre></body></html>',
    );
    expect(e.code).toBe('non_json_response');
    expect(e.message).toContain('Cannot PATCH /connection/a/b/metadata');
    expect(e.message).not.toContain('<pre>');
  });

  it('treats resets and timeouts as transient', () => {
    expect(errorFromException(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }))).toMatchObject({
      kind: 'transient',
      code: 'network_error',
    });
    expect(errorFromException(Object.assign(new Error('timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toMatchObject({
      kind: 'transient',
      code: 'timeout',
    });
  });
});

describe('rate limit headers', () => {
  it('reads X-RateLimit-* and floors Retry-After at 1 s', () => {
    expect(readRateLimit({ 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '1763629260' })).toEqual({
      limit: 200,
      remaining: 3,
      resetAt: 1763629260000,
    });
    expect(readRateLimit({})).toBeUndefined();
    expect(retryAfterMs('0')).toBe(1000);
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(undefined)).toBe(1000);
  });

  it('holds requests when the window is spent and lets them go at the reset', async () => {
    const gate = new RateLimitGate();
    const resetAt = Date.now() + 150;
    expect(await gate.acquire(Date.now() + 5000)).toBe(true);
    gate.release({ limit: 2, remaining: 0, resetAt });
    const t0 = Date.now();
    expect(await gate.acquire(Date.now() + 5000)).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(resetAt - 5);
    gate.release(undefined);
    expect(t0).toBeLessThan(resetAt);
  });

  it('resumes at the window end learned from the answer that opened it, not the rounded-up reset', async () => {
    const gate = new RateLimitGate(300);
    const roundedReset = Date.now() + 1000;
    expect(await gate.acquire(Date.now() + 5000)).toBe(true);
    gate.release({ limit: 2, remaining: 1, resetAt: roundedReset });
    expect(await gate.acquire(Date.now() + 5000)).toBe(true);
    gate.release({ limit: 2, remaining: 0, resetAt: roundedReset });
    const t0 = Date.now();
    expect(await gate.acquire(Date.now() + 5000)).toBe(true);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThan(150);
    expect(waited).toBeLessThan(900);
  });

  it('lets exactly as many requests go as the server says remain (in-flight counted once)', async () => {
    const gate = new RateLimitGate();
    const resetAt = Date.now() + 60_000;
    expect(await gate.acquire(Date.now() + 1000)).toBe(true);
    gate.release({ limit: 20, remaining: 10, resetAt });
    const quick = () => Promise.race([gate.acquire(Date.now() + 5000), new Promise<boolean>((r) => setTimeout(() => r(false), 30))]);
    let went = 0;
    for (let i = 0; i < 11; i++) if (await quick()) went++;
    expect(went).toBe(10);
  });

  it('wakes a waiting request when an answer shows budget left', async () => {
    const gate = new RateLimitGate();
    const resetAt = Date.now() + 60_000;
    expect(await gate.acquire(Date.now() + 1000)).toBe(true);
    gate.release({ limit: 20, remaining: 1, resetAt });
    expect(await gate.acquire(Date.now() + 1000)).toBe(true); // in flight: no budget left for now
    const waiting = gate.acquire(Date.now() + 5000);
    const t0 = Date.now();
    gate.release({ limit: 20, remaining: 1, resetAt }); // the server had not counted it after all
    expect(await waiting).toBe(true);
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('keeps a 429 block even when the learned window end is earlier', async () => {
    const gate = new RateLimitGate(100);
    const resetAt = Date.now() + 1000;
    expect(await gate.acquire(Date.now() + 1000)).toBe(true);
    gate.release({ limit: 5, remaining: 4, resetAt });
    gate.block(Date.now() + 400);
    const t0 = Date.now();
    expect(await gate.acquire(Date.now() + 5000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
  });

  it('refuses to wait past the deadline', async () => {
    const gate = new RateLimitGate();
    gate.block(Date.now() + 10_000);
    expect(await gate.acquire(Date.now() + 100)).toBe(false);
  });
});

describe('coalesce', () => {
  it('is a shallow merge where later wins, null kept, objects replaced', () => {
    expect(coalesce([{ a: 1, n: { x: 1 } }, { a: 2, b: null }, { n: { y: 2 } }])).toEqual({ a: 2, b: null, n: { y: 2 } });
  });

  it('keeps __proto__ as a plain key and never touches a prototype', () => {
    const p = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const out = coalesce([p]);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.parse(JSON.stringify(out))).toEqual(p);
  });
});

describe('withRetries', () => {
  const opts = { deadline: Date.now() + 10_000, maxAttempts: 3, baseMs: 1, capMs: 5, minAttemptMs: 1 };
  it('retries transient errors and reports the attempts', async () => {
    let n = 0;
    const r = await withRetries(async () => {
      if (++n < 3) throw new NangoError('transient', 'http_503', 'x', 503);
      return 'ok';
    }, opts);
    expect(r).toEqual({ value: 'ok', attempts: 3 });
  });

  it('does not retry permanent errors', async () => {
    let n = 0;
    await expect(
      withRetries(async () => {
        n++;
        throw new NangoError('permanent', 'unknown_connection', 'x', 404);
      }, opts),
    ).rejects.toBeInstanceOf(AttemptsExhausted);
    expect(n).toBe(1);
  });

  it('stops when Retry-After would pass the deadline', async () => {
    let n = 0;
    const t0 = Date.now();
    await expect(
      withRetries(
        async () => {
          n++;
          throw new NangoError('transient', 'too_many_request', 'x', 429, undefined, 5000);
        },
        { ...opts, deadline: Date.now() + 1000 },
      ),
    ).rejects.toMatchObject({ attempts: 1 });
    expect(n).toBe(1);
    expect(Date.now() - t0).toBeLessThan(900);
  });
});
