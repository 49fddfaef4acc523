/**
 * The chaos fault plan for the Nango stand-in: a seeded share of requests gets one of the faults a
 * real deployment meets (429 with Retry-After 0-2 s rounded down as the real server sends it, with
 * X-RateLimit headers; 500/502/503; connection resets; answers slower than the client's timeout;
 * HTML error pages from a proxy), and "cursed" connections fail every PATCH with 503 so their syncs
 * must reach the sync DLQ on the last allowed attempt.
 *
 * 429s are budgeted and spaced: a 429 holds the whole process's Nango client for Retry-After, so an
 * unbounded share would measure waiting, not correctness.
 */
import type { Fault, FaultHook, FaultRequest } from '../standins/nango.ts';
import { mulberry32 } from '../standins/nango/faults.ts';

export type FaultKind = 'rateLimit429' | 'status500' | 'status502' | 'status503' | 'reset' | 'slow' | 'html' | 'cursed503';

export interface ChaosFaultPlan {
  seed: number;
  /** Share of eligible requests that get a fault. */
  rate: number;
  /** Relative weights of the random kinds. */
  weights: Partial<Record<Exclude<FaultKind, 'cursed503'>, number>>;
  /** The client's timeout: a slow answer holds longer than this. */
  clientTimeoutMs: number;
  maxRateLimits: number;
  /** No two 429s closer than this. */
  rateLimitGapMs: number;
  /** Connection ids whose every PATCH fails. */
  cursed: readonly string[];
}

export interface ChaosFaults {
  hook: FaultHook;
  /** Faults injected, by kind. */
  injected(): Record<FaultKind, number>;
  /** Requests the hook saw (every authenticated request). */
  seen(): number;
}

export function chaosFaults(plan: ChaosFaultPlan): ChaosFaults {
  const rand = mulberry32(plan.seed ^ 0x5eed);
  const counts: Record<FaultKind, number> = {
    rateLimit429: 0,
    status500: 0,
    status502: 0,
    status503: 0,
    reset: 0,
    slow: 0,
    html: 0,
    cursed503: 0,
  };
  const kinds = Object.entries(plan.weights).filter(([, w]) => (w ?? 0) > 0) as [Exclude<FaultKind, 'cursed503'>, number][];
  const total = kinds.reduce((s, [, w]) => s + w, 0);
  const cursed = new Set(plan.cursed);
  let seen = 0;
  let lastRateLimit = 0;
  let retryAfterCycle = 0;

  const make = (kind: FaultKind): Fault => {
    counts[kind]++;
    switch (kind) {
      case 'rateLimit429':
        return { kind: 'rateLimit', retryAfter: retryAfterCycle++ % 3 };
      case 'status500':
        return { kind: 'status', status: 500, code: 'server_error', message: 'chaos: internal error' };
      case 'status502':
        return { kind: 'status', status: 502, code: 'bad_gateway', message: 'chaos: bad gateway' };
      case 'status503':
      case 'cursed503':
        return { kind: 'status', status: 503, code: 'service_unavailable', message: 'chaos: unavailable' };
      case 'reset':
        return { kind: 'reset' };
      case 'slow':
        return { kind: 'delay', ms: plan.clientTimeoutMs + 250 };
      case 'html':
        return { kind: 'html', status: rand() < 0.5 ? 502 : 503 };
    }
  };

  const hook: FaultHook = (req: FaultRequest) => {
    seen++;
    // Every write to a cursed connection (route's lookups are left alone).
    if (req.method === 'PATCH' && req.connectionId !== undefined && cursed.has(req.connectionId)) return make('cursed503');
    if (rand() >= plan.rate) return undefined;
    let r = rand() * total;
    let kind = kinds[kinds.length - 1]![0];
    for (const [k, w] of kinds) {
      r -= w;
      if (r < 0) {
        kind = k;
        break;
      }
    }
    if (kind === 'rateLimit429') {
      const now = Date.now();
      if (counts.rateLimit429 >= plan.maxRateLimits || now - lastRateLimit < plan.rateLimitGapMs) kind = 'status503';
      else lastRateLimit = now;
    }
    return make(kind);
  };
  return { hook, injected: () => ({ ...counts }), seen: () => seen };
}
