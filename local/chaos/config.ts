/**
 * The chaos run's settings: CI (well under a minute on 2 cores) and soak (longer, larger). CHAOS_SEED
 * replays a run; the seed is printed with every table.
 */
import type { ChaosRunOptions } from './run.ts';

export function seedFromEnv(fallback: number): number {
  const s = Number(process.env.CHAOS_SEED);
  return Number.isInteger(s) && s > 0 ? s : fallback;
}

/**
 * Sized to finish in well under a minute on 2 shared cores: the in-process DynamoDB answers in 15-30 ms
 * a request, and each event costs a dozen state reads and writes between route and apply.
 */
export function ciChaos(seed: number): ChaosRunOptions {
  return {
    title: `chaos (CI) seed ${seed}`,
    workload: {
      seed,
      events: Number(process.env.CHAOS_EVENTS) || 220,
      customers: 30,
      invalidShare: 0.03,
      ghostShare: 0.03,
      duplicateShare: 0.06,
      pairShare: 0.05,
      lateCustomerShare: 0.3,
      midRunShare: 0.15,
      afterShare: 0.08,
      cursedCustomers: 1,
      cursedEvents: 4,
    },
    faults: {
      rate: 0.35,
      weights: { rateLimit429: 1, status500: 2, status502: 2, status503: 2, reset: 2, slow: 1, html: 2 },
      maxRateLimits: 4,
      rateLimitGapMs: 2_500,
    },
    clientTimeoutMs: 2_000,
    nangoLatencyMs: 2,
    route: { batchSize: 10, concurrency: 4, functionTimeoutMs: 10_000 },
    apply: { batchSize: 10, concurrency: 4, functionTimeoutMs: 5_000 },
    groupConcurrency: 8,
    maxReceiveCount: 5,
    rotateAtShare: 0.45,
    crash: { atShare: 0.25, afterMs: 15, minRecords: 4 },
    routeCrashInvocation: 7,
    // Parked records take every receive of the ingress queue (10 s visibility each).
    drainTimeoutMs: 180_000,
    // Apply behind route, as in a backlog: syncs wait, and apply leaves keys rewritten meanwhile to later syncs.
    syncDeliveryDelaySeconds: 2,
    // Each wait's deadline fires after this (the drain waits for it).
    maxDeferSeconds: 5,
    // Route records parked after their writes (their sync sends refused until the last receive).
    parkShare: 0.02,
    // Five re-tags, two before the mid-run sweep: some moved by it, the rest by the one after the drain.
    retags: { shares: [0.2, 0.35, 0.55, 0.7, 0.85], sweepAtShare: 0.45 },
  };
}

export function soakChaos(seed: number, events: number): ChaosRunOptions {
  const ci = ciChaos(seed);
  return {
    ...ci,
    title: `soak seed ${seed}`,
    workload: { ...ci.workload, events, customers: Math.max(30, Math.round(events / 8)) },
    // More 429s in absolute terms, the same spacing.
    faults: { ...ci.faults, maxRateLimits: 20 },
    apply: { ...ci.apply, concurrency: 6 },
    drainTimeoutMs: 1_800_000,
    // A steady producer: connections created "mid-run" then really appear between the events of their customers.
    maxBacklog: 600,
    progressEveryMs: 15_000,
  };
}
