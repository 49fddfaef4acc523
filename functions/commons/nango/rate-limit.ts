/**
 * Paces requests from Nango's X-RateLimit-* headers so that 429 is the exception, not the control
 * loop: when the window's remaining budget (less requests already in flight) is spent, callers wait
 * for the window to reset instead of firing into a 429. Per process; maxConcurrency on the event
 * source bounds how many processes share the account's budget.
 */
import type { RateLimitState } from './port.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RateLimitGate {
  private state: RateLimitState | undefined;
  private inFlight = 0;
  /**
   * X-RateLimit-Reset is whole seconds, rounded up: waiting for it idles the account up to a second
   * per window. The answer that opened a window (remaining = limit - 1) was counted before we read
   * it, so that window ends by now + windowMs: never early, and usually well before the rounded reset.
   */
  private learned: { reset: number; end: number } | undefined;

  /** @param windowMs the server's fixed window (Nango: 60 s). */
  constructor(private readonly windowMs = 60_000) {}

  private resetOf(s: RateLimitState): number {
    return this.learned && this.learned.reset === s.resetAt ? this.learned.end : s.resetAt;
  }

  /** Wait until a request may go, or return false when that would pass the deadline. */
  async acquire(deadline: number, now = Date.now): Promise<boolean> {
    for (;;) {
      const s = this.state;
      if (!s || now() >= this.resetOf(s)) {
        if (s) this.state = undefined;
        break;
      }
      if (s.remaining - this.inFlight > 0) break;
      const wait = this.resetOf(s) - now() + Math.floor(Math.random() * 50);
      if (now() + wait >= deadline) return false;
      await sleep(wait);
    }
    this.inFlight++;
    if (this.state) this.state = { ...this.state, remaining: this.state.remaining - 1 };
    return true;
  }

  /** Record the server's view after a response (or none, after a network error). */
  release(observed: RateLimitState | undefined): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (observed && observed.remaining === observed.limit - 1) {
      this.learned = { reset: observed.resetAt, end: Math.min(observed.resetAt, Date.now() + this.windowMs) };
    }
    if (observed) {
      // Remaining counts down within a window; a later reset means a new window.
      const s = this.state;
      if (!s || observed.resetAt > s.resetAt || observed.remaining < s.remaining + this.inFlight) {
        this.state = { ...observed, remaining: Math.max(0, observed.remaining - this.inFlight) };
      }
    }
  }

  /** After a 429: nothing more until Retry-After has passed. */
  block(untilMs: number): void {
    const s = this.state;
    this.state = { limit: s?.limit ?? 0, remaining: 0, resetAt: Math.max(untilMs, s?.resetAt ?? 0) };
  }

  snapshot(): RateLimitState | undefined {
    return this.state;
  }
}

export function readRateLimit(headers: Record<string, string | string[] | undefined>): RateLimitState | undefined {
  const h = (k: string) => {
    const v = headers[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const limit = Number(h('x-ratelimit-limit'));
  const remaining = Number(h('x-ratelimit-remaining'));
  const reset = Number(h('x-ratelimit-reset'));
  if (![limit, remaining, reset].every(Number.isFinite)) return undefined;
  return { limit, remaining, resetAt: reset * 1000 };
}

/** Retry-After in seconds (or an HTTP date), floored at 1 s as DESIGN.md requires. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number {
  const v = Array.isArray(value) ? value[0] : value;
  let ms = 1000;
  if (v !== undefined && v !== '') {
    const secs = Number(v);
    if (Number.isFinite(secs)) ms = secs * 1000;
    else {
      const at = Date.parse(v);
      if (Number.isFinite(at)) ms = at - now;
    }
  }
  return Math.max(1000, Math.ceil(ms));
}
