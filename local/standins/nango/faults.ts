/**
 * Fault injection for the Nango stand-in. A fault replaces the normal answer and never applies the
 * write (except `delay` with `apply: true`, which models a server that commits after the client
 * has given up).
 */

/** What the hook sees about one authenticated request, before validation and before any write. */
export interface FaultRequest {
  method: string;
  /** Raw path, as sent (still percent-encoded). */
  path: string;
  /** Decoded connection id (legacy path) or body `connection_id` (first one when an array). */
  connectionId?: string;
  connectionIds?: string[];
  providerConfigKey?: string;
  /** 1-based number of this request among all requests since start or reset(). */
  n: number;
  /** 1-based number of this request among those for the same (connectionId, providerConfigKey). */
  connectionN?: number;
}

export type Fault =
  /** A JSON StdError with any status (500, 502, 503, 400...). `body` replaces the default body. */
  | { kind: 'status'; status: number; code?: string; message?: string; body?: unknown; headers?: Record<string, string> }
  /** 429 too_many_request with Retry-After (seconds, may be 0) and X-RateLimit-* headers. */
  | { kind: 'rateLimit'; retryAfter: number }
  /** Destroy the socket without answering (client sees a reset / "other side closed"). */
  | { kind: 'reset' }
  /** Hold the answer for `ms` (longer than the client's timeout), then 504 unless `apply` is set. */
  | { kind: 'delay'; ms: number; apply?: boolean }
  /** An HTML error page, as a proxy in front of Nango would send (default 502 Bad Gateway). */
  | { kind: 'html'; status?: number; body?: string }
  /**
   * A server, proxy or WAF that quotes the request's Authorization header in its error: in a JSON
   * StdError (message and errors) or an HTML page. Default 400.
   */
  | { kind: 'echoAuth'; format: 'json' | 'html'; status?: number };

export type FaultHook = (req: FaultRequest) => Fault | undefined;

/** Deterministic PRNG (mulberry32) so a seeded chaos plan replays identically. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ProbabilityPlan {
  /** Chance in [0, 1] that a request gets a fault. */
  rate: number;
  /** Faults to pick from, uniformly, or weighted with `[fault, weight]` pairs. */
  faults: Array<Fault | [Fault, number]>;
  seed?: number;
  /** Only requests this returns true for are eligible (default: PATCH and POST). */
  only?: (req: FaultRequest) => boolean;
}

/** Build a FaultHook that injects faults at random, reproducibly when seeded. */
export function probabilityFaults(plan: ProbabilityPlan): FaultHook {
  if (!(plan.rate >= 0 && plan.rate <= 1)) throw new Error('probabilityFaults: rate must be within [0, 1]');
  const weighted = plan.faults.map((f) => (Array.isArray(f) ? f : ([f, 1] as [Fault, number])));
  const total = weighted.reduce((s, [, w]) => s + w, 0);
  if (weighted.length === 0 || !(total > 0)) throw new Error('probabilityFaults: at least one fault with a positive weight');
  const rand = mulberry32(plan.seed ?? 1);
  const only = plan.only ?? ((r: FaultRequest) => r.method === 'PATCH' || r.method === 'POST');
  return (req) => {
    if (!only(req)) return undefined;
    if (rand() >= plan.rate) return undefined;
    let pick = rand() * total;
    for (const [fault, w] of weighted) {
      pick -= w;
      if (pick < 0) return fault;
    }
    return weighted[weighted.length - 1]![0];
  };
}

/** Chain hooks: the first one that returns a fault wins. */
export function firstFault(...hooks: Array<FaultHook | undefined>): FaultHook {
  return (req) => {
    for (const h of hooks) {
      const f = h?.(req);
      if (f) return f;
    }
    return undefined;
  };
}
