/**
 * Short in-process retries with full jitter, never past the deadline. Hand-written: the retry
 * libraries on npm do not take a hard deadline or honour a server's Retry-After, and both matter here.
 */
import { AttemptsExhausted, Failure } from './failure.ts';

export { AttemptsExhausted } from './failure.ts';

export interface RetryOptions {
  deadline: number;
  /** Attempts in all, the first included. */
  maxAttempts: number;
  baseMs: number;
  capMs: number;
  /** Time one more attempt needs at least; no retry starts without it. */
  minAttemptMs: number;
  random?: () => number;
  /** Which transient errors may be retried here (default: all); the others go straight back to the caller. */
  retryHere?: (e: Failure) => boolean;
}

export const defaultRetry = { maxAttempts: 3, baseMs: 100, capMs: 2_000, minAttemptMs: 250 } as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` until it succeeds, fails permanently, or the attempts or the time run out; throws the last error. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<{ value: T; attempts: number }> {
  const random = o.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (e) {
      if (!(e instanceof Failure) || !e.retryable || attempt >= o.maxAttempts || o.retryHere?.(e) === false) throw withAttempts(e, attempt);
      const backoff = Math.floor(random() * Math.min(o.capMs, o.baseMs * 2 ** attempt));
      const wait = Math.max(backoff, e.retryAfterMs ?? 0);
      if (Date.now() + wait + o.minAttemptMs > o.deadline) throw withAttempts(e, attempt);
      await sleep(wait);
    }
  }
}

function withAttempts(e: unknown, attempts: number): AttemptsExhausted {
  // Counted by a retry inside this one: its cause and count stand, so the error is still classified by its cause.
  return e instanceof AttemptsExhausted ? e : new AttemptsExhausted(e, attempts);
}
