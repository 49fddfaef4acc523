/**
 * Replay pacing: an even spacing of sends (no bursts), so a large replay does not flood the
 * pipeline and, behind it, Nango's per-account rate limit. Waiting is abortable (Ctrl-C).
 */
import { setTimeout as timersSleep } from 'node:timers/promises';

export interface Pacer {
  /** Resolves when the next send may start; rejects with an AbortError if the signal fires first. */
  take(signal?: AbortSignal): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const realClock: Clock = {
  now: () => performance.now(),
  sleep: async (ms, signal) => {
    await timersSleep(ms, undefined, signal ? { signal } : {});
  },
};

export function pacer(perSecond: number, clock: Clock = realClock): Pacer {
  if (!(perSecond > 0)) return { take: async (signal) => signal?.throwIfAborted() };
  const interval = 1000 / perSecond;
  let next = -Infinity;
  return {
    async take(signal) {
      signal?.throwIfAborted();
      const t = clock.now();
      const at = Math.max(t, next);
      next = at + interval;
      if (at > t) await clock.sleep(at - t, signal);
    },
  };
}
