/**
 * Paces requests from Nango's X-RateLimit-* headers so that 429 is the exception, not the control
 * loop: when the window's remaining budget, less the requests already in flight, is spent, callers
 * wait for the window to end instead of firing into a 429. Per process; maxConcurrency on the event
 * source bounds how many processes share the account's budget.
 *
 * Nango's window is fixed and starts with the first request after the previous one ended. Its
 * X-RateLimit-Reset is the end in epoch seconds rounded DOWN and Retry-After is whole seconds rounded
 * down (often 0): both say "no earlier than", so resuming at them gets 429s. The gate resumes at an
 * upper bound of the real end instead: reset + 1 s, or the arrival of the first answer it saw from
 * that window + the window length, whichever is earlier. Any answer of a window was counted after
 * the window began, so the earliest one bounds its start: a gate that keeps sending sees a window's
 * first answers within a round trip of its start, so it loses about one round trip per window, not
 * the up-to-a-second of the rounded reset (half of a 2 s window).
 */
import type { RateLimitState } from './port.ts';

/** A reset or Retry-After further out than this many windows is a unit mistake or a broken proxy. */
export const MAX_WINDOWS = 3;
/** The least wait after a 429 with nothing to bound the window's end: a `Retry-After: 0` means "this window, which is not over yet". */
export const MIN_RETRY_MS = 1000;
/** The least wait after a 429 whose reset header bounds the end (reset + 1 s is certainly past it). */
const MIN_RETRY_BOUNDED_MS = 50;
/** The header is rounded down to the second: the window may end up to this much later. */
const RESET_SLACK_MS = 1000;

interface Window extends RateLimitState {
  /** Epoch ms by which the window has certainly ended; Infinity for a window not opened yet. */
  end: number;
}

export class RateLimitGate {
  /** The server's last word on the current window. */
  private state: Window | undefined;
  /** Whether answers carry the headers: until the first answer we send one request at a time. */
  private mode: 'unknown' | 'metered' | 'unmetered' = 'unknown';
  /** Requests sent and not yet answered: the server may not have counted them in `state` yet. */
  private inFlight = 0;
  /** After a 429: nothing goes before this, whatever the window says. */
  private blockedUntil = 0;
  /** The earliest answer seen from a window (by its reset): it was counted after the window began, so the window ends by then + window. */
  private firstSeen: { resetAt: number; at: number } | undefined;
  private wake: (() => void)[] = [];

  /** @param windowMs the server's fixed window (Nango: 60 s). */
  constructor(private readonly windowMs = 60_000) {}

  private cap(now: number): number {
    return now + MAX_WINDOWS * this.windowMs;
  }

  /** An upper bound of the end of the window the server names by `resetAt`, clamped. */
  private endOf(resetAt: number, now: number): number {
    const rounded = Math.min(resetAt + RESET_SLACK_MS, this.cap(now));
    return this.firstSeen && this.firstSeen.resetAt === resetAt ? Math.min(this.firstSeen.at + this.windowMs, rounded) : rounded;
  }

  /** When the next request may go: a time (now, if it may), or 'answer' to wait for one in flight. */
  private readyAt(now: number): number | 'answer' {
    if (now < this.blockedUntil) return this.blockedUntil;
    if (this.mode === 'unknown') return this.inFlight > 0 ? 'answer' : now;
    const s = this.state;
    if (!s) return now;
    if (now >= s.end) {
      // A new window starts with the next request, with the whole budget.
      this.state = { limit: s.limit, remaining: s.limit, resetAt: -1, end: Number.POSITIVE_INFINITY };
      return this.readyAt(now);
    }
    return s.remaining - this.inFlight > 0 ? now : s.end === Number.POSITIVE_INFINITY ? 'answer' : s.end;
  }

  /** Wait until a request may go, or return false when that would pass the deadline. */
  async acquire(deadline: number): Promise<boolean> {
    for (;;) {
      const now = Date.now();
      const at = this.readyAt(now);
      if (at !== 'answer' && at <= now) break;
      if (now >= deadline) return false;
      // Budget held only by requests in flight may come back with their answers: wait for those.
      const answersPending = this.inFlight > 0 && now >= this.blockedUntil;
      if (at !== 'answer' && at >= deadline && !answersPending) return false;
      // Sleep until the window ends, or until an answer changes the picture (budget freed, new window).
      const until = at === 'answer' ? deadline : Math.min(at + Math.floor(Math.random() * 50), deadline);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, until - now));
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

  /**
   * Record the server's view after a response (or none, after a network error). `answered` is true
   * for a 2xx: one without headers means the server does not meter, and the gate stops pacing.
   */
  release(observed: RateLimitState | undefined, answered = false): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    const now = Date.now();
    if (observed) {
      this.mode = 'metered';
      const opener = observed.remaining === observed.limit - 1;
      // Windows under a second can share a reset second: then only the answer that opened one names it.
      if (opener || (this.windowMs >= RESET_SLACK_MS && this.firstSeen?.resetAt !== observed.resetAt)) {
        this.firstSeen = { resetAt: observed.resetAt, at: now };
      }
      const end = this.endOf(observed.resetAt, now);
      const s = this.state;
      if (!s || observed.resetAt > s.resetAt) this.state = { ...observed, end };
      else if (observed.resetAt === s.resetAt) {
        this.state = { ...s, remaining: Math.min(s.remaining, observed.remaining), end: Math.min(s.end, end) };
      }
      // An answer from an older window says nothing about this one.
    } else if (answered && this.mode === 'unknown') {
      this.mode = 'unmetered';
    }
    const waiting = this.wake;
    this.wake = [];
    for (const w of waiting) w();
  }

  /**
   * After a 429: block until the window has certainly ended and return the wait in ms (for the
   * error's retryAfterMs). Retry-After (whole seconds, rounded down) and the reset are both upper
   * bounds once the rounding is added back; the earliest wins, never over MAX_WINDOWS windows. Never
   * under MIN_RETRY_MS, unless the reset header bounds the end: then the wait is as short as that
   * bound (a Retry-After: 0 late in a 2 s window costs the rest of the window, not a whole second).
   */
  tooManyRequests(retryAfter: string | string[] | undefined, observed: RateLimitState | undefined): number {
    const now = Date.now();
    let until = now + this.windowMs;
    const after = parseRetryAfter(retryAfter, now);
    if (after !== undefined) until = Math.min(this.cap(now), now + Math.floor(after / 1000) * 1000 + RESET_SLACK_MS);
    if (observed) until = Math.min(until, this.endOf(observed.resetAt, now));
    until = Math.max(until, now + (observed && observed.resetAt + RESET_SLACK_MS > now ? MIN_RETRY_BOUNDED_MS : MIN_RETRY_MS));
    this.block(until);
    return until - now;
  }

  /** Nothing goes before `untilMs`. */
  block(untilMs: number): void {
    this.blockedUntil = Math.max(this.blockedUntil, untilMs);
  }

  /** When the caller may try again, for a hand-back's visibility timeout. */
  nextSlot(now = Date.now()): number {
    const at = this.readyAt(now);
    return at === 'answer' ? now + MIN_RETRY_MS : at;
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
  if (![limit, remaining, reset].every(Number.isFinite) || limit < 1) return undefined;
  return { limit, remaining, resetAt: reset * 1000 };
}

/** Retry-After as ms from now (seconds, or an HTTP date), undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}
