/**
 * Replay pacing: an even spacing of sends (no bursts), so a large replay does not flood the
 * pipeline and, behind it, Nango's per-account rate limit. Waiting is abortable (Ctrl-C).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface Pacer {
  /** Resolves when the next send may start; rejects with an AbortError if the signal fires first. */
  take(signal?: AbortSignal): Promise<void>;
}

export function pacer(perSecond: number, now: () => number = () => performance.now()): Pacer {
  if (!(perSecond > 0)) return { take: async (signal) => signal?.throwIfAborted() };
  const interval = 1000 / perSecond;
  let next = -Infinity;
  return {
    async take(signal) {
      signal?.throwIfAborted();
      const t = now();
      const at = Math.max(t, next);
      next = at + interval;
      if (at > t) await sleep(at - t, undefined, { signal });
    },
  };
}
