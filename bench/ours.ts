/**
 * Our pipeline under the bench's workloads, one per process (the handlers keep their first
 * configuration, as a warm Lambda does): the backlog drain (rate limit off or on), a trickle below
 * the limit, and seeding by auth webhook followed by a reconcile pass. Everything runs through
 * startLocalPipeline: fauxqs, dynalite, the Secrets Manager stand-in, the Nango stand-in.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { InvocationResult } from '../local/event-source.ts';
import { startLocalPipeline, type LocalPipeline } from '../local/pipeline.ts';
import type { SeedConnection } from '../local/standins/nango.ts';
import { countAwsRequests } from './aws-requests.ts';
import {
  checkFinalState,
  connectionKey,
  connectionsOf,
  type DatasetOptions,
  eventConnectionPairs,
  foldByVersion,
  makeConnections,
  makeDataset,
  mapEvent,
  orgOf,
  type BenchEvent,
} from './dataset.ts';
import { lastAnswer, nangoCalls, percentiles } from './nango-calls.ts';

/** The construct's defaults (infra/nango-metadata-sync.ts resolveProps), kept in step by hand: importing infra pulls in aws-cdk-lib. */
export const ROUTE_DEFAULTS = { batchSize: 50, maxBatchingWindowMs: 1000, concurrency: 10, functionTimeoutMs: 30_000 };
export const APPLY_DEFAULTS = { batchSize: 10, maxBatchingWindowMs: 0, concurrency: 2, functionTimeoutMs: 90_000 };
export const SYNC_DELIVERY_DELAY_SECONDS = 0;
/** The construct's memory per function, in GB (route is CPU-bound; apply mostly waits). */
export const LAMBDA_MEMORY_GB = { route: 0.5, apply: 0.25 } as const;

export interface StandinShape {
  latencyMs: number;
  raceDelayMs: number;
  rateLimit?: { limit: number; windowMs: number } | undefined;
}

const log = (s: string) => process.stderr.write(`    ${s}\n`);

interface Invocations {
  invocations: number;
  durationMs: number;
}
const tally = () => {
  const t: Invocations = { invocations: 0, durationMs: 0 };
  return { t, on: (r: InvocationResult) => ((t.invocations += 1), (t.durationMs += r.durationMs)) };
};

/**
 * The whole pipeline shares this process's event loop (stand-ins included), as it does not in AWS:
 * its lag is what a loaded machine adds to every figure, so each result carries it.
 */
function loopLag() {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  return () => {
    h.disable();
    return { p50Ms: h.percentile(50) / 1e6, p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 };
  };
}

async function pipeline(nango: StandinShape, connections: SeedConnection[]) {
  const route = tally();
  const apply = tally();
  const p = await startLocalPipeline({
    nango: {
      latencyMs: nango.latencyMs,
      raceMode: true,
      raceDelayMs: nango.raceDelayMs,
      ...(nango.rateLimit ? { rateLimit: nango.rateLimit } : {}),
    },
    connections,
    route: { ...ROUTE_DEFAULTS, onInvocation: route.on },
    apply: { ...APPLY_DEFAULTS, onInvocation: apply.on },
    syncDeliveryDelaySeconds: SYNC_DELIVERY_DELAY_SECONDS,
    env: {
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
      // The stand-in's window is scaled down; a deployment keeps Nango's 60 s default.
      ...(nango.rateLimit ? { NANGO_RATE_LIMIT_WINDOW_MS: String(nango.rateLimit.windowMs) } : {}),
    },
  });
  return { p, nango: p.nango!, lambda: { route: route.t, apply: apply.t }, lag: loopLag() };
}

const dlqSummary = async (p: LocalPipeline, since = 0) => {
  const d = (await p.dlq()).filter((x) => x.sentTimestamp >= since);
  return {
    total: d.length,
    byCode: d.reduce<Record<string, number>>((m, x) => {
      const code = x.envelope ? `${x.queue}:${x.envelope.error?.code ?? x.envelope.error?.status ?? '?'}` : `${x.queue}:bare`;
      m[code] = (m[code] ?? 0) + 1;
      return m;
    }, {}),
    attempts: d.map((x) => x.envelope?.attempts ?? 0),
    firstError: d[0]?.envelope?.error,
  };
};

export interface DrainRun {
  dataset: Partial<DatasetOptions>;
  nango: StandinShape;
  countAws?: boolean;
  /**
   * Reconcile once before the backlog, as after a deployment's backfill or the daily run: it fills
   * every subject's connection index (one list call per 1,000 connections). Its calls count in the
   * backlog's figures. Without it the index starts cold: one list per customer.
   */
  warmIndex?: boolean;
  reconcileAfter?: boolean;
  timeoutMs: number;
}

export async function drain(o: DrainRun) {
  const data = makeDataset(o.dataset);
  const expected = foldByVersion(data.connections, data.events);
  const touched = data.connections.filter((c) => data.events.some((e) => connectionsOf(mapEvent(e), [c]).length)).length;
  // Installed before the pipeline: the SDK looks node:http up once, at its first request.
  const aws = o.countAws ? countAwsRequests() : undefined;
  const { p, nango, lambda, lag } = await pipeline(o.nango, data.connections);
  try {
    const callsFrom = Date.now();
    const indexed = o.warmIndex ? (await p.reconcile({ pageSize: 1000 })).indexed : 0;
    aws?.reset();
    const t0 = Date.now();
    await p.send(data.events);
    const sendMs = Date.now() - t0;
    await p.drain({ timeoutMs: o.timeoutMs, quietMs: 500 });
    const wallMs = lastAnswer(nango.requests, t0) - t0;
    const awsCounts = aws ? Object.fromEntries(aws.counts()) : undefined;
    aws?.stop();
    const calls = nangoCalls(nango.requests, callsFrom);
    const indexCalls = nangoCalls(nango.requests, callsFrom).total - nangoCalls(nango.requests, t0).total;
    const final = checkFinalState(data.connections, expected, (id, k) => nango.metadataOf(id, k));
    const dlq = await dlqSummary(p);
    let reconcile: { calls: number; checked: number; drifted: number; pages: number } | undefined;
    if (o.reconcileAfter) {
      const from = Date.now();
      const r = await p.reconcile({ dryRun: true, pageSize: 1000 });
      reconcile = { calls: nangoCalls(nango.requests, from).total, checked: r.checked, drifted: r.drifted.length, pages: r.pages };
    }
    const rate = o.nango.rateLimit ? o.nango.rateLimit.limit / o.nango.rateLimit.windowMs : undefined;
    return {
      events: data.events.length,
      ingressQueueName: p.queues.ingressUrl.slice(p.queues.ingressUrl.lastIndexOf('/') + 1),
      connections: data.connections.length,
      touched,
      pairs: eventConnectionPairs(data.connections, data.events),
      sendMs,
      wallMs,
      calls,
      callsPerTouched: calls.total / touched,
      warmIndex: { calls: indexCalls, subjects: indexed },
      // The floor: one PATCH per connection touched, at the allowed rate.
      ...(rate ? { boundMs: touched / rate, wallOverBound: wallMs / (touched / rate) } : {}),
      final,
      dlq,
      stats: nango.stats(),
      loopLag: lag(),
      lambda,
      ...(awsCounts ? { aws: awsCounts } : {}),
      ...(reconcile ? { reconcile } : {}),
    };
  } finally {
    aws?.stop();
    await p.stop();
  }
}

export interface TrickleRun {
  customers: number;
  eventsPerSecond: number;
  seconds: number;
  nango: StandinShape;
}

export async function trickle(o: TrickleRun) {
  const connections = makeConnections({ customers: o.customers, connectionsPerCustomer: [2, 3, 4, 5, 6], seed: 42 });
  const { p, nango, lag } = await pipeline(o.nango, connections);
  try {
    // Warm-up: one event per customer, so the index is fresh (as in steady state) and route lists nothing.
    const warmAt = Date.now() - 3_600_000;
    const warm: BenchEvent[] = Array.from({ length: o.customers }, (_, c) => ({
      id: `warm-${c}`,
      source: 'app.accounts',
      'detail-type': 'customer.status_changed',
      time: new Date(warmAt).toISOString(),
      detail: { organizationId: orgOf(c, 42), status: 'active', changedAt: new Date(warmAt).toISOString() },
    }));
    // In small steps: this warms the index, it is not a burst to measure.
    for (let i = 0; i < warm.length; i += 25) {
      await p.send(warm.slice(i, i + 25));
      await p.drain({ timeoutMs: 120_000, quietMs: 300 });
    }
    nango.reset();
    const n = Math.round(o.eventsPerSecond * o.seconds);
    const events = makeDataset({ events: n, customers: o.customers, lateShare: 0, startMs: warmAt + 1000 }).events;
    const sentAt = new Map<string, number>();
    const t0 = Date.now();
    const warmParked = (await p.dlq()).length;
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / o.eventsPerSecond;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      sentAt.set(events[i]!.id, Date.now());
      await p.send([events[i]]);
    }
    await p.drain({ timeoutMs: 120_000, quietMs: 500 });
    const latencies: number[] = [];
    let superseded = 0;
    for (const e of events) {
      const m = mapEvent(e);
      for (const c of connectionsOf(m, connections)) {
        const hit = nango
          .applyHistory(c.connectionId, c.providerConfigKey)
          .find(
            (w) => w.at >= sentAt.get(e.id)! && Object.entries(m.patch).every(([k, v]) => JSON.stringify(w.after[k]) === JSON.stringify(v)),
          );
        if (hit) latencies.push(hit.at - sentAt.get(e.id)!);
        else superseded++;
      }
    }
    const calls = nangoCalls(nango.requests);
    const pairs = eventConnectionPairs(connections, events);
    const expected = foldByVersion(connections, [...warm, ...events]);
    return {
      events: n,
      eventsPerSecond: o.eventsPerSecond,
      pairs,
      calls,
      patchesPerPair: calls.patch / pairs,
      latencyMs: percentiles(latencies),
      superseded,
      final: checkFinalState(connections, expected, (id, k) => nango.metadataOf(id, k)),
      warmParked,
      dlq: await dlqSummary(p, t0),
      loopLag: lag(),
    };
  } finally {
    await p.stop();
  }
}

export interface SeedRun {
  /** Connections that appear (Connect UI) after their customer's events. */
  newConnections: number;
  /** Idle connections beside them, so reconcile pages through a realistic account. */
  idleConnections: number;
  createEveryMs: number;
  nango: StandinShape;
}

export async function seed(o: SeedRun) {
  const idle = makeConnections({ customers: Math.ceil(o.idleConnections / 4), connectionsPerCustomer: [4], seed: 43 }).slice(
    0,
    o.idleConnections,
  );
  const firstNew = 100_000;
  // A connection made in the Connect UI starts with no metadata.
  const fresh = makeConnections({ customers: o.newConnections, connectionsPerCustomer: [1], seed: 42 }, firstNew).map((c) => ({
    ...c,
    metadata: null,
  }));
  const { p, nango, lag } = await pipeline(o.nango, idle);
  try {
    const events = makeDataset({
      events: o.newConnections * 3,
      customers: o.newConnections,
      lateShare: 0,
      seed: 42,
      startMs: Date.now() - 600_000,
    }).events.map((e) => ({
      ...e,
      detail: { ...e.detail, organizationId: orgOf(firstNew + Number((e.detail.organizationId as string).slice(-5)), 42) },
    }));
    await p.send(events);
    await p.drain({ timeoutMs: 120_000, quietMs: 500 });
    const expected = foldByVersion(fresh, events);
    const matches = (c: SeedConnection) => {
      const want = expected.get(connectionKey(c.connectionId, c.providerConfigKey)) ?? {};
      const got = nango.metadataOf(c.connectionId, c.providerConfigKey) ?? {};
      return Object.entries(want).every(([k, v]) => JSON.stringify(got[k]) === JSON.stringify(v));
    };
    const latencies: number[] = [];
    const waits: Promise<void>[] = [];
    for (const c of fresh) {
      const { metadata: _m, ...conn } = c;
      const at = Date.now();
      nango.createConnection(conn);
      waits.push(
        (async () => {
          for (const deadline = at + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 5))) {
            if (matches(c)) return void latencies.push(Date.now() - at);
          }
          const want = expected.get(connectionKey(c.connectionId, c.providerConfigKey));
          log(
            `seed: ${c.connectionId} did not match within 60 s: want ${JSON.stringify(want)}, got ${JSON.stringify(nango.metadataOf(c.connectionId, c.providerConfigKey))}`,
          );
        })(),
      );
      await new Promise((r) => setTimeout(r, o.createEveryMs));
    }
    await Promise.all(waits);
    await p.drain({ timeoutMs: 60_000, quietMs: 300 });
    const from = Date.now();
    const r = await p.reconcile({ dryRun: true, pageSize: 1000 });
    const rc = nangoCalls(nango.requests, from);
    return {
      newConnections: fresh.length,
      seeded: latencies.length,
      latencyMs: percentiles(latencies),
      reconcile: {
        connections: nango.connections().length,
        calls: rc.total,
        checked: r.checked,
        drifted: r.drifted.length,
        pages: r.pages,
      },
      dlq: await dlqSummary(p),
      loopLag: lag(),
    };
  } finally {
    await p.stop();
  }
}

export type DrainResult = Awaited<ReturnType<typeof drain>>;
export type TrickleResult = Awaited<ReturnType<typeof trickle>>;
export type SeedResult = Awaited<ReturnType<typeof seed>>;
