/**
 * Our pipeline under the bench's workloads, one per process (the handlers keep their first
 * configuration, as a warm Lambda does): the backlog drain (rate limit off or on), a trickle below
 * the limit, and seeding by auth webhook followed by a reconcile pass. Everything runs through
 * startLocalPipeline: fauxqs, dynalite, the Secrets Manager stand-in, the Nango stand-in.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ENV } from '#commons/config';
import type { InvocationResult } from '../local/event-source.ts';
import { startLocalPipeline, type LocalPipeline } from '../local/pipeline.ts';
import type { SeedConnection } from '../local/standins/nango.ts';
import { mulberry32 } from '../local/standins/nango/faults.ts';
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
import { lastAnswer, nangoCalls, percentiles, timeline } from './nango-calls.ts';

/** The construct's defaults (DEFAULTS in infra/construct/props.ts), kept in step by hand: importing infra pulls in aws-cdk-lib. */
export const ROUTE_DEFAULTS = { batchSize: 10, maxBatchingWindowMs: 0, concurrency: 10, functionTimeoutMs: 30_000 };
export const APPLY_DEFAULTS = { batchSize: 10, maxBatchingWindowMs: 0, concurrency: 2, functionTimeoutMs: 90_000 };
export const SYNC_DELIVERY_DELAY_SECONDS = 0;
/** Lambda's pollers long-poll 20 s while a queue is idle: idle receives are then what a deployment pays per queue-month. */
export const LAMBDA_POLL_WAIT_MS = 20_000;
/** Lambda starts 5 pollers on a standard queue (more only as a backlog lasts minutes); each hands its batches to up to maxConcurrency invocations. */
export const LAMBDA_STANDARD_POLLERS = 5;
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
  /** Epoch ms the last invocation ended (0 before any): when the stage last worked. */
  lastEndedAt: number;
}
const tally = () => {
  const t: Invocations = { invocations: 0, durationMs: 0, lastEndedAt: 0 };
  return { t, on: (r: InvocationResult) => ((t.invocations += 1), (t.durationMs += r.durationMs), (t.lastEndedAt = Date.now())) };
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
    route: { ...ROUTE_DEFAULTS, pollWaitMs: LAMBDA_POLL_WAIT_MS, pollers: LAMBDA_STANDARD_POLLERS, onInvocation: route.on },
    apply: { ...APPLY_DEFAULTS, pollWaitMs: LAMBDA_POLL_WAIT_MS, onInvocation: apply.on },
    sweep: { pollWaitMs: LAMBDA_POLL_WAIT_MS },
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

/** Empty receives of idle pollers so far, by queue name. */
function idleReceives(p: LocalPipeline): Record<string, number> {
  const name = (url: string) => url.slice(url.lastIndexOf('/') + 1);
  return {
    [name(p.queues.ingressUrl)]: p.route.stats().idleReceives,
    [name(p.queues.syncUrl)]: p.apply.stats().idleReceives,
    [name(p.queues.sweepUrl)]: p.sweepSource.stats().idleReceives,
  };
}

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
    const idleFrom = idleReceives(p);
    const t0 = Date.now();
    await p.send(data.events);
    const sendMs = Date.now() - t0;
    await p.drain({ timeoutMs: o.timeoutMs, quietMs: 500 });
    const wallMs = lastAnswer(nango.requests, t0) - t0;
    const awsCounts = aws ? Object.fromEntries(aws.counts()) : undefined;
    aws?.stop();
    const idleTo = idleReceives(p);
    // Receives that found an idle queue: a fixed cost per queue-month (cost.ts), not one per event.
    const idle = Object.fromEntries(Object.entries(idleTo).map(([q, n]) => [q, n - (idleFrom[q] ?? 0)]));
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
      ...(rate
        ? { boundMs: touched / rate, wallOverBound: wallMs / (touched / rate), ...fixedWindowFloor(touched, o.nango.rateLimit!) }
        : {}),
      // When route last worked, from the first send: the PATCHes cannot all be final before it.
      routeDoneMs: lambda.route.lastEndedAt ? lambda.route.lastEndedAt - t0 : 0,
      timeline: {
        bucketMs: o.nango.rateLimit?.windowMs ?? 1000,
        requests: timeline(nango.requests, t0, o.nango.rateLimit?.windowMs ?? 1000),
      },
      final,
      dlq,
      stats: nango.stats(),
      eventSources: { route: p.route.stats(), apply: p.apply.stats() },
      loopLag: lag(),
      lambda,
      ...(awsCounts ? { aws: awsCounts, idleReceives: idle } : {}),
      ...(reconcile ? { reconcile } : {}),
    };
  } finally {
    aws?.stop();
    await p.stop();
  }
}

/**
 * Nango's window is fixed and opens with the first request: `limit` calls can go at once, so one
 * call per connection touched needs ceil(touched / limit) windows and ends early in the last one.
 * This is the tighter floor at a long window, where touched / rate overstates it by up to a window.
 */
function fixedWindowFloor(touched: number, rl: { limit: number; windowMs: number }) {
  return { fixedWindowFloorMs: (Math.ceil(touched / rl.limit) - 1) * rl.windowMs };
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

export interface SteadyRun {
  customers: number;
  /** Rounds of one event per customer; a customer's events are `roundMs` apart, longer than its index lives. */
  rounds: number;
  roundMs: number;
  /**
   * INDEX_TTL_SECONDS for the run: the deployment's 300 s scaled down with the round, so that every
   * customer's next event comes after its index (as a list lookup filled it) expired, as in production
   * where a customer changes far less often than every 5 minutes.
   */
  indexTtlSeconds: number;
  /** Connections moved to another customer (tags changed through Nango's API: no webhook) before each round. */
  retagsPerRound: number;
  /** Connections created (Connect UI: an auth webhook) before each round. */
  newPerRound: number;
  nango: StandinShape;
}

/**
 * Steady state: every customer's event finds its index expired. The floor is one PATCH per
 * (event, connection) and per new connection (its seed); every Nango call counts against it, the
 * listing's own (a sweep, a lookup, the reconcile that filled the index first) included. Re-tags
 * check the tenancy rule: after a move, a connection gets none of its former customer's later keys
 * once Nango shows the change (the latest such write is reported with its delay).
 */
export async function steady(o: SteadyRun) {
  const connections = makeConnections({ customers: o.customers, connectionsPerCustomer: [2, 3, 4, 5, 6], seed: 42 });
  const route = tally();
  const apply = tally();
  const p = await startLocalPipeline({
    nango: { latencyMs: o.nango.latencyMs, raceMode: true, raceDelayMs: o.nango.raceDelayMs },
    connections,
    route: { ...ROUTE_DEFAULTS, onInvocation: route.on },
    apply: { ...APPLY_DEFAULTS, onInvocation: apply.on },
    syncDeliveryDelaySeconds: SYNC_DELIVERY_DELAY_SECONDS,
    env: {
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
      INDEX_TTL_SECONDS: String(o.indexTtlSeconds),
      // The sweep's interval, scaled as the index's lifetime is (5 minutes / 30).
      ...(SWEEP_SETTING in ENV ? { [SWEEP_SETTING]: String(SWEEP_SECONDS) } : {}),
    },
  });
  // The docs' tenancy window: a re-tag is seen by the next sweep, or without one by the next lookup.
  const tenancyWindowMs = (SWEEP_SETTING in ENV ? SWEEP_SECONDS : o.indexTtlSeconds) * 1000;
  const nango = p.nango!;
  const lag = loopLag();
  try {
    const from = Date.now();
    // The state a running deployment has: every subject's index filled by the last sweep, and its
    // schedule ticking (the minute scaled as the interval is); its list calls count.
    await p.sweep();
    await p.drain({ timeoutMs: 60_000, quietMs: 500 });
    p.scheduleSweep(SWEEP_TICK_MS);
    // Current membership: who each connection belongs to now (re-tags change it).
    const live = connections.map((c) => ({ ...c, tags: { ...c.tags } }));
    const rnd = mulberry32(7);
    const retags: { c: SeedConnection; from: string; to: string; at: number }[] = [];
    const created: SeedConnection[] = [];
    const sent: { e: BenchEvent; at: number; reached: SeedConnection[] }[] = [];
    let n = 0;
    const t0 = Date.now();
    for (let r = 0; r < o.rounds; r++) {
      const roundStart = t0 + o.indexTtlSeconds * 1000 + r * o.roundMs;
      if (roundStart > Date.now()) await sleep(roundStart - Date.now());
      for (let i = 0; i < o.retagsPerRound; i++) {
        const c = live[Math.floor(rnd() * live.length)]!;
        const to = orgOf(Math.floor(rnd() * o.customers), 42);
        if (to === c.tags!.organization_id) continue;
        retags.push({ c, from: c.tags!.organization_id!, to, at: Date.now() });
        c.tags!.organization_id = to;
        // Changed through Nango's API: the connection keeps its metadata; no webhook is sent.
        nango.addConnection({ ...c, metadata: nango.metadataOf(c.connectionId, c.providerConfigKey) ?? null });
      }
      for (let i = 0; i < o.newPerRound; i++) {
        const [fresh] = makeConnections({ customers: 1, connectionsPerCustomer: [1], seed: 42 }, 200_000 + r * 1000 + i);
        const c = { ...fresh!, tags: { ...fresh!.tags, organization_id: orgOf(Math.floor(rnd() * o.customers), 42) }, metadata: null };
        const { metadata: _m, ...conn } = c;
        nango.createConnection(conn);
        live.push(c);
        created.push(c);
      }
      // One event per customer, spread over the round, each customer at the same offset every round.
      for (let cu = 0; cu < o.customers; cu++) {
        const due = roundStart + (cu * o.roundMs * 0.8) / o.customers;
        if (due > Date.now()) await sleep(due - Date.now());
        const e = steadyEvent(n++, cu, rnd);
        sent.push({ e, at: Date.now(), reached: connectionsOf(mapEvent(e), live).map((c) => ({ ...c, tags: { ...c.tags } })) });
        await p.send([e]);
      }
    }
    await p.drain({ timeoutMs: 180_000, quietMs: 1000 });
    const calls = nangoCalls(nango.requests, from);
    const pairs = sent.reduce((s, x) => s + x.reached.length, 0);
    const floor = pairs + created.length;
    // Tenancy: writes to a moved connection carrying a later event of its former customer.
    const changedAt = new Map<string, { org: string; at: number }>();
    for (const x of sent) {
      const d = x.e.detail as Record<string, unknown>;
      if (typeof d.changedAt === 'string') changedAt.set(d.changedAt, { org: String(d.organizationId), at: x.at });
    }
    // Judged by when the event was sent (the routing decision), not when apply wrote it.
    let formerWrites = 0;
    let formerLate = 0;
    let latestFormerMs = 0;
    for (const m of retags) {
      for (const w of nango.applyHistory(m.c.connectionId, m.c.providerConfigKey)) {
        if (w.at < m.at) continue;
        for (const k of ['planChangedAt', 'seatsChangedAt']) {
          const src = typeof w.patch[k] === 'string' ? changedAt.get(w.patch[k] as string) : undefined;
          if (src && src.org === m.from && src.at > m.at) {
            formerWrites++;
            if (src.at - m.at > tenancyWindowMs) formerLate++;
            latestFormerMs = Math.max(latestFormerMs, src.at - m.at);
          }
        }
      }
    }
    const seeded = created.filter((c) => (nango.metadataOf(c.connectionId, c.providerConfigKey) ?? null) !== null).length;
    return {
      customers: o.customers,
      connections: connections.length + created.length,
      events: sent.length,
      rounds: o.rounds,
      roundMs: o.roundMs,
      indexTtlSeconds: o.indexTtlSeconds,
      pairs,
      floor,
      calls,
      callsPerTouched: calls.total / floor,
      retags: retags.length,
      formerWrites,
      formerLate,
      latestFormerMs,
      tenancyWindowMs,
      created: created.length,
      seeded,
      wallMs: lastAnswer(nango.requests, t0) - t0,
      dlq: await dlqSummary(p),
      loopLag: lag(),
      lambda: { route: route.t, apply: apply.t },
    };
  } finally {
    await p.stop();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SWEEP_SETTING = 'INDEX_SWEEP_SECONDS';
/** Scaled 30x, as the index's lifetime: runs every 10 s instead of 5 minutes, ticks every 2 s instead of a minute. */
const SWEEP_SECONDS = 10;
const SWEEP_TICK_MS = 2_000;

/** A plan or seats change (both carry a unique changedAt, which the tenancy check follows). */
function steadyEvent(n: number, customer: number, rnd: () => number): BenchEvent {
  const now = Date.now();
  const changedAt = new Date(now).toISOString();
  const org = orgOf(customer, 42);
  return rnd() < 0.5
    ? {
        id: `steady-${n}`,
        source: 'app.billing',
        'detail-type': 'customer.plan_changed',
        time: new Date(now).toISOString(),
        detail: { organizationId: org, plan: ['free', 'starter', 'pro', 'enterprise'][n % 4], changedAt },
      }
    : {
        id: `steady-${n}`,
        source: 'app.billing',
        'detail-type': 'customer.seats_changed',
        time: new Date(now).toISOString(),
        detail: { organizationId: org, seats: 1 + (n % 500), changedAt },
      };
}

export type SteadyResult = Awaited<ReturnType<typeof steady>>;
