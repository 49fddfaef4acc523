/**
 * Paces requests from Nango's X-RateLimit-* headers so that 429 is the exception, not the control
 * loop: when the window's remaining budget, less the requests already in flight, is spent, callers
 * wait for the window to end instead of firing into a 429. Per process; maxConcurrency on the event
 * source bounds how many processes share the account's budget.
 */
import type { RateLimitState } from './port.ts';

export class RateLimitGate {
  /** The server's last word on the current window. */
  private state: RateLimitState | undefined;
  /** Requests sent and not yet answered: the server may not have counted them in `state` yet. */
  private inFlight = 0;
  /** After a 429: nothing goes before Retry-After has passed, whatever the window says. */
  private blockedUntil = 0;
  /**
   * X-RateLimit-Reset is whole seconds, rounded up: waiting for it idles the account up to a second
   * per window. The answer that opened a window (remaining = limit - 1) was counted before we read
   * it, so that window ends by now + windowMs: never early, and usually well before the rounded reset.
   */
  private learned: { reset: number; end: number } | undefined;
  private wake: (() => void)[] = [];

  /** @param windowMs the server's fixed window (Nango: 60 s). */
  constructor(private readonly windowMs = 60_000) {}

  private endOf(s: RateLimitState): number {
    return this.learned && this.learned.reset === s.resetAt ? this.learned.end : s.resetAt;
  }

  /** When the next request may go (now, if it may). */
  private readyAt(now: number): number {
    if (now < this.blockedUntil) return this.blockedUntil;
    const s = this.state;
    if (!s) return now;
    const end = this.endOf(s);
    if (now >= end) {
      this.state = undefined;
      return now;
    }
    return s.remaining - this.inFlight > 0 ? now : end;
  }

  /** Wait until a request may go, or return false when that would pass the deadline. */
  async acquire(deadline: number, now = Date.now): Promise<boolean> {
    for (;;) {
      const at = this.readyAt(now());
      if (at <= now()) break;
      // Budget held only by requests in flight may come back with their answers: wait for those.
      const answersPending = this.inFlight > 0 && (this.state?.remaining ?? 0) > 0 && now() >= this.blockedUntil;
      if (at >= deadline && !answersPending) return false;
      if (now() >= deadline) return false;
      // Sleep until the window ends, or until an answer changes the picture (budget freed, new window).
      const until = Math.min(at + Math.floor(Math.random() * 50), deadline);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, until - now()));
        this.wake.push(done);
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
    }
    this.inFlight++;
    return true;
  }

  /** Record the server's view after a response (or none, after a network error). */
  release(observed: RateLimitState | undefined): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (observed) {
      if (observed.remaining === observed.limit - 1) {
        this.learned = { reset: observed.resetAt, end: Math.min(observed.resetAt, Date.now() + this.windowMs) };
      }
      const s = this.state;
      if (!s || observed.resetAt > s.resetAt) this.state = { ...observed };
      else if (observed.resetAt === s.resetAt) this.state = { ...s, remaining: Math.min(s.remaining, observed.remaining) };
      // An answer from an older window says nothing about this one.
    }
    const waiting = this.wake;
    this.wake = [];
    for (const w of waiting) w();
  }

  /** After a 429: nothing more until Retry-After has passed. */
  block(untilMs: number): void {
    this.blockedUntil = Math.max(this.blockedUntil, untilMs);
  }

  /** When the caller may try again, for a hand-back's visibility timeout. */
  nextSlot(now = Date.now()): number {
    return this.readyAt(now);
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
