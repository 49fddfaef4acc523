import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { errorFromException, errorFromResponse, kindForStatus } from '#commons/nango/errors';
import { MAX_WINDOWS, parseRetryAfter, RateLimitGate, readRateLimit } from '#commons/nango/rate-limit';
import { Failure } from '#commons/failure';
import { withRetries, AttemptsExhausted } from '#commons/retry';

describe('error classification (the failure table)', () => {
  it.each([
    [400, 'refused', false],
    [403, 'refused', false],
    [404, 'refused', false],
    [413, 'refused', false],
    [415, 'refused', false],
    [401, 'unauthorized', false],
    [408, 'timeout', true],
    [429, 'throttled', true],
    [500, 'unavailable', true],
    [502, 'unavailable', true],
    [503, 'unavailable', true],
  ] as const)('%i is %s (retryable: %s)', (status, kind, retryable) => {
    expect(kindForStatus(status)).toBe(kind);
    expect(errorFromResponse(status, 'application/json', '{}').retryable).toBe(retryable);
  });

  it('parses a real StdError leniently, extra keys and all', () => {
    const e = errorFromResponse(
      404,
      'application/json',
      JSON.stringify({ error: { code: 'unknown_connection', message: 'No connection', payload: {}, method: 'PATCH', path: '/x' } }),
    );
    expect(e.toRecord()).toEqual({ status: 404, code: 'unknown_connection', message: 'No connection', retryable: false });
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
      retryable: true,
      code: 'network_error',
    });
    expect(errorFromException(Object.assign(new Error('timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toMatchObject({
      retryable: true,
      code: 'timeout',
    });
  });
});

describe('rate limit headers', () => {
  it('reads X-RateLimit-* and Retry-After (seconds or an HTTP date)', () => {
    expect(readRateLimit({ 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '1763629260' })).toEqual({
      limit: 200,
      remaining: 3,
      resetAt: 1763629260000,
    });
    expect(readRateLimit({})).toBeUndefined();
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
  });
});

/**
 * The gate on a fake clock (vitest's fake timers drive Date.now and setTimeout). Times are epoch
 * ms; the server's reset header is whole seconds rounded down.
 */
describe('rate limit gate', () => {
  const T0 = 1_700_000_000_500; // half a second into an epoch second
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Starts an acquire and reports when it resolved (fake ms after start), or undefined. */
  function track(p: Promise<boolean>) {
    const start = Date.now();
    const out: { at?: number; ok?: boolean } = {};
    void p.then((ok) => {
      out.at = Date.now() - start;
      out.ok = ok;
    });
    return out;
  }
  /** A gate that has seen one answer (so it knows the server meters) leaving `remaining`. */
  async function seen(gate: RateLimitGate, remaining: number, resetAt: number, limit = 10) {
    expect(await gate.acquire(Date.now() + 60_000)).toBe(true);
    gate.release({ limit, remaining, resetAt }, true);
  }

  it('resumes at reset + 1 s, never at the rounded-down reset, when it did not see the window open', async () => {
    const gate = new RateLimitGate(60_000);
    const reset = Math.floor((T0 + 30_000) / 1000) * 1000; // the real end may be up to 1 s later
    await seen(gate, 0, reset);
    const w = track(gate.acquire(T0 + 120_000));
    await vi.advanceTimersByTimeAsync(reset - T0 + 999);
    expect(w.at).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60);
    expect(w.ok).toBe(true);
    expect(w.at!).toBeGreaterThanOrEqual(reset + 1000 - T0);
  });

  it('resumes at the end learned from the answer that opened the window (arrival + window)', async () => {
    const gate = new RateLimitGate(3_000);
    const reset = Math.floor((T0 + 3_000) / 1000) * 1000; // 3.5 s out rounded down: 3 s out
    await seen(gate, 9, reset); // remaining = limit - 1: this answer opened the window
    await vi.advanceTimersByTimeAsync(100);
    expect(await gate.acquire(Date.now() + 10_000)).toBe(true);
    gate.release({ limit: 10, remaining: 0, resetAt: reset }, true);
    const w = track(gate.acquire(T0 + 10_000));
    await vi.advanceTimersByTimeAsync(T0 + 3_000 - Date.now() - 1);
    expect(w.at).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60);
    expect(w.ok).toBe(true);
    // Earlier than reset + 1 s, never before arrival + window.
    expect(Date.now()).toBeLessThan(reset + 1000);
    expect(Date.now()).toBeGreaterThanOrEqual(T0 + 3_000);
  });

  it('after a window, lets the whole budget go at once, then waits for answers', async () => {
    const gate = new RateLimitGate(1_000);
    await seen(gate, 0, Math.floor(T0 / 1000) * 1000, 3);
    await vi.advanceTimersByTimeAsync(1_100);
    const got = [track(gate.acquire(Date.now() + 5_000)), track(gate.acquire(Date.now() + 5_000)), track(gate.acquire(Date.now() + 5_000))];
    const fourth = track(gate.acquire(Date.now() + 5_000));
    await vi.advanceTimersByTimeAsync(0);
    expect(got.map((g) => g.ok)).toEqual([true, true, true]);
    expect(fourth.ok).toBeUndefined();
    gate.release({ limit: 3, remaining: 2, resetAt: Math.floor((Date.now() + 1000) / 1000) * 1000 }, true);
    await vi.advanceTimersByTimeAsync(0);
    expect(fourth.ok).toBeUndefined(); // 2 remain, 2 still in flight
  });

  it('sends one request at a time until it knows whether the server meters; none when it does not', async () => {
    const gate = new RateLimitGate();
    expect(await gate.acquire(T0 + 1000)).toBe(true);
    const second = track(gate.acquire(T0 + 1000));
    await vi.advanceTimersByTimeAsync(10);
    expect(second.ok).toBeUndefined();
    gate.release(undefined, true); // a 2xx without X-RateLimit-*: not metered
    await vi.advanceTimersByTimeAsync(0);
    expect(second.ok).toBe(true);
    for (let i = 0; i < 50; i++) expect(await gate.acquire(T0 + 1000)).toBe(true);
  });

  it('a 401 without headers does not switch pacing off', async () => {
    const gate = new RateLimitGate();
    expect(await gate.acquire(T0 + 1000)).toBe(true);
    gate.release(undefined, false);
    expect(await gate.acquire(T0 + 1000)).toBe(true);
    const third = track(gate.acquire(T0 + 1000));
    await vi.advanceTimersByTimeAsync(10);
    expect(third.ok).toBeUndefined();
  });

  it('treats Retry-After: 0 as "after this window", at least 1 s', async () => {
    const gate = new RateLimitGate(60_000);
    await seen(gate, 5, Math.floor((T0 + 40_000) / 1000) * 1000);
    const wait = gate.tooManyRequests('0', undefined);
    expect(wait).toBe(1000);
    const w = track(gate.acquire(T0 + 10_000));
    await vi.advanceTimersByTimeAsync(999);
    expect(w.at).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60);
    expect(w.ok).toBe(true);
  });

  it('after a 429 late in a window, waits only until the reset bounds its end (reset + 1 s), not a whole second more', () => {
    const gate = new RateLimitGate(2_000);
    const reset = Math.floor(T0 / 1000) * 1000 - 300; // the header's second began 300 ms (or more) ago
    const wait = gate.tooManyRequests('0', { limit: 20, remaining: 0, resetAt: reset });
    expect(wait).toBe(reset + 1000 - T0);
    expect(wait).toBeLessThan(1000);
  });

  it('adds the rounding back to Retry-After, and takes the reset when it says earlier', () => {
    const gate = new RateLimitGate(60_000);
    expect(gate.tooManyRequests('7', undefined)).toBe(8_000);
    const g2 = new RateLimitGate(60_000);
    const reset = Math.floor((T0 + 2_000) / 1000) * 1000;
    expect(g2.tooManyRequests('30', { limit: 10, remaining: 0, resetAt: reset })).toBe(reset + 1000 - T0);
    // Nothing to go by: a fixed window ends within one window.
    expect(new RateLimitGate(60_000).tooManyRequests(undefined, undefined)).toBe(60_000);
  });

  it('clamps absurd values to a few windows: a reset in milliseconds, a far reset, a Retry-After of a day', async () => {
    const cap = MAX_WINDOWS * 60_000;
    expect(new RateLimitGate(60_000).tooManyRequests('86400', undefined)).toBe(cap);
    expect(new RateLimitGate(60_000).tooManyRequests(undefined, { limit: 10, remaining: 0, resetAt: T0 * 1000 })).toBe(60_000);
    const gate = new RateLimitGate(60_000);
    await seen(gate, 0, T0 * 1000); // X-RateLimit-Reset sent in ms, read as seconds
    const w = track(gate.acquire(T0 + 10 * 60_000));
    await vi.advanceTimersByTimeAsync(cap + 60);
    expect(w.ok).toBe(true);
    expect(w.at!).toBeLessThanOrEqual(cap + 60);
  });

  it('lets exactly as many requests go as the server says remain (in-flight counted once)', async () => {
    const gate = new RateLimitGate();
    await seen(gate, 10, T0 + 60_000, 20);
    const all = Array.from({ length: 11 }, () => track(gate.acquire(T0 + 5000)));
    await vi.advanceTimersByTimeAsync(30);
    expect(all.filter((g) => g.ok).length).toBe(10);
  });

  it('wakes a waiting request when an answer shows budget left', async () => {
    const gate = new RateLimitGate();
    await seen(gate, 1, T0 + 60_000, 20);
    expect(await gate.acquire(T0 + 1000)).toBe(true); // in flight: no budget left for now
    const w = track(gate.acquire(T0 + 5000));
    await vi.advanceTimersByTimeAsync(10);
    expect(w.ok).toBeUndefined();
    gate.release({ limit: 20, remaining: 1, resetAt: T0 + 60_000 }, true); // the server had not counted it after all
    await vi.advanceTimersByTimeAsync(0);
    expect(w.ok).toBe(true);
  });

  it('keeps a 429 block even when the window ends earlier', async () => {
    const gate = new RateLimitGate(100);
    await seen(gate, 4, Math.floor(T0 / 1000) * 1000, 5);
    gate.block(T0 + 400);
    const w = track(gate.acquire(T0 + 5000));
    await vi.advanceTimersByTimeAsync(399);
    expect(w.ok).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60);
    expect(w.ok).toBe(true);
  });

  it('refuses to wait past the deadline', async () => {
    const gate = new RateLimitGate();
    gate.block(T0 + 10_000);
    expect(await gate.acquire(T0 + 100)).toBe(false);
    expect(gate.nextSlot()).toBe(T0 + 10_000);
  });
});

describe('withRetries', () => {
  const opts = { deadline: Date.now() + 10_000, maxAttempts: 3, baseMs: 1, capMs: 5, minAttemptMs: 1 };
  it('retries transient errors and reports the attempts', async () => {
    let n = 0;
    const r = await withRetries(async () => {
      if (++n < 3) throw new Failure({ source: 'nango', kind: 'unavailable', code: 'http_503', message: 'x', status: 503 });
      return 'ok';
    }, opts);
    expect(r).toEqual({ value: 'ok', attempts: 3 });
  });

  it('does not retry permanent errors', async () => {
    let n = 0;
    await expect(
      withRetries(async () => {
        n++;
        throw new Failure({ source: 'nango', kind: 'refused', code: 'unknown_connection', message: 'x', status: 404 });
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
          throw new Failure({
            source: 'nango',
            kind: 'throttled',
            code: 'too_many_request',
            message: 'x',
            status: 429,
            retryAfterMs: 5000,
          });
        },
        { ...opts, deadline: Date.now() + 1000 },
      ),
    ).rejects.toMatchObject({ attempts: 1 });
    expect(n).toBe(1);
    expect(Date.now() - t0).toBeLessThan(900);
  });
});
