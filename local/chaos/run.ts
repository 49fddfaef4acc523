/**
 * One chaos run through the local pipeline (fauxqs, dynalite, the Secrets Manager and Nango
 * stand-ins, the real route, apply and webhook functions): a seeded workload in two waves (the
 * second holds older events sent after newer ones), connections created mid-run and after their
 * events (their auth webhooks seed them), faults on a share of Nango requests, one key rotation, one
 * route invocation that dies before deleting its batch, one apply invocation that dies mid-batch,
 * connections re-tagged through Nango's API with the sweep ticked mid-run and past the last re-tag;
 * then the invariant table.
 *
 * Used by the CI suite (test/chaos/chaos.test.ts) and `npm run soak` (cli/soak.ts). One run per
 * process: the handlers keep their first configuration, as a warm Lambda does.
 */
import { randomUUID } from 'node:crypto';
import { queueCounts, waitUntilDrained, type InvocationResult } from '../event-source.ts';
import { startLocalPipeline, type LocalPipeline, type SentEvent } from '../pipeline.ts';
import type { SeedConnection } from '../standins/nango.ts';
import { TAG_HEADER, trackNangoCalls } from './calls.ts';
import { captureOutput, printAlways } from './capture.ts';
import { chaosFaults, type ChaosFaultPlan } from './faults.ts';
import { computeInvariants, type InvariantInput } from './invariants.ts';
import { formatInvariants, type InvariantReport } from './report.ts';
import { buildWorkload, type WorkloadConfig, type WorldConnection } from './workload.ts';
import type { DesiredKey } from '../../functions/commons/domain/desired.ts';
import { mulberry32 } from '../standins/nango/faults.ts';
import type { Retag } from './invariants.ts';

export interface StageTuning {
  batchSize: number;
  concurrency: number;
  functionTimeoutMs: number;
}

export interface ChaosRunOptions {
  title: string;
  workload: WorkloadConfig;
  faults: Pick<ChaosFaultPlan, 'rate' | 'weights' | 'maxRateLimits' | 'rateLimitGapMs'>;
  /** NANGO_TIMEOUT_MS: a "slow" fault answers later than this. */
  clientTimeoutMs: number;
  nangoLatencyMs: number;
  route: StageTuning;
  apply: StageTuning;
  groupConcurrency: number;
  maxReceiveCount: number;
  /** Rotate the key once route has taken this share of the copies sent. */
  rotateAtShare: number;
  /** Kill the first apply invocation of at least `minRecords` records after this share, `afterMs` into it. */
  crash: { atShare: number; afterMs: number; minRecords: number };
  /** Route invocation (1-based) that dies after its handler returned, before its deletes. */
  routeCrashInvocation: number;
  drainTimeoutMs: number;
  /** The sync queue's delivery delay (the construct's default is 2 s): apply then defers more often. */
  syncDeliveryDelaySeconds?: number;
  /**
   * Share of valid wave-1 events parked by route after their state write: SQS refuses every send of
   * their syncs until the last receive parks them (so no sync of theirs ever exists).
   */
  parkShare?: number;
  /** APPLY_MAX_DEFER_SECONDS: each wait's deadline is delayed this long, and the drain waits for it. */
  maxDeferSeconds?: number;
  /** A steady producer: wave 1 goes out in chunks, each once fewer than this many messages wait. */
  maxBacklog?: number;
  /**
   * Re-tags through the Nango stand-in's API (no webhook, as Nango): once route has taken each share,
   * one connection that exists from the start moves to another customer (the last one to a customer
   * with no state). A sweep tick at `sweepAtShare`, and one after the drain that runs past the last re-tag.
   */
  retags?: { shares: number[]; sweepAtShare: number };
  /** Progress lines (soak); silent when absent. */
  progressEveryMs?: number;
}

export interface ChaosRunResult {
  report: InvariantReport;
  /** What the report was computed from, so a test can perturb it and see the invariants catch it. */
  input: InvariantInput;
  table: string;
  elapsedMs: number;
  rotated: boolean;
  crashed: { invocation: number; records: number } | undefined;
}

const percentile = (xs: number[], p: number) => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)] ?? 0);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const asSeed = ({ appears: _a, cursed: _c, ...c }: WorldConnection): SeedConnection => c;

export async function runChaos(o: ChaosRunOptions): Promise<ChaosRunResult> {
  const started = Date.now();
  const workload = buildWorkload(o.workload);
  const copies = workload.wave1.length + workload.wave2.length;
  const keyBefore = randomUUID();
  const keyAfter = randomUUID();
  let staleKeys = 0;
  const capture = captureOutput({
    watch: [keyBefore, keyAfter],
    onLine: (l) => {
      if (!l.includes('stale keys dropped')) return;
      try {
        staleKeys += ((JSON.parse(l) as { keys?: unknown[] }).keys ?? []).length;
      } catch {
        staleKeys++;
      }
    },
  });
  const faults = chaosFaults({
    ...o.faults,
    seed: o.workload.seed,
    clientTimeoutMs: o.clientTimeoutMs,
    cursed: workload.connections.filter((c) => c.cursed).map((c) => c.connectionId),
  });
  let nangoOrigin: string | undefined;
  const calls = trackNangoCalls(() => nangoOrigin);
  const errors: string[] = [];
  const errorText = (r: InvocationResult) => {
    if (r.error === undefined) return;
    const e = r.error as Error;
    errors.push(`${e?.name ?? ''}: ${e?.message ?? String(r.error)}\n${e?.stack ?? ''}`);
  };
  // A timed-out or crashed invocation keeps running here; on Lambda it would be stopped.
  const abandoned = (stage: string, r: InvocationResult) => {
    if (r.outcome === 'timeout' || r.outcome === 'crash') calls.abandon(stage, r.invocation, Date.now());
  };
  let routed = 0;
  const routeMs: number[] = [];
  const phases: string[] = [];
  const phase = (name: string) => phases.push(`${name} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  let crashArmed = false;
  let crashPending: { invocation: number; records: number } | undefined;
  let crashed: { invocation: number; records: number } | undefined;
  let routeCrashed = false;
  const pendingCreation = workload.connections.filter((c) => c.appears.at !== 'start');
  const retags: Retag[] = [];
  const retagShares = [...(o.retags?.shares ?? [])].sort((a, b) => a - b);
  const retagRand = mulberry32(o.workload.seed ^ 0x7a9);
  const retagCandidates = workload.connections.filter((c) => c.appears.at === 'start' && !c.cursed && c.tags.organization_id);
  const sweeps: string[] = [];

  let pipeline: LocalPipeline | undefined;
  let progress: NodeJS.Timeout | undefined;
  let monitor: NodeJS.Timeout | undefined;
  try {
    pipeline = await startLocalPipeline({
      nangoSecretKey: keyBefore,
      connections: workload.connections.filter((c) => c.appears.at === 'start').map(asSeed),
      nango: { latencyMs: o.nangoLatencyMs, fault: faults.hook },
      maxReceiveCount: o.maxReceiveCount,
      syncDeliveryDelaySeconds: o.syncDeliveryDelaySeconds ?? 0,
      route: {
        ...o.route,
        maxBatchingWindowMs: 0,
        crashAfter: (info) => {
          calls.enter('route', info.invocation);
          if (routeCrashed || info.invocation !== o.routeCrashInvocation) return false;
          routeCrashed = true;
          return true;
        },
        onInvocation: (r) => {
          errorText(r);
          abandoned('route', r);
          routed += r.deletedIds.length;
          routeMs.push(r.durationMs);
        },
      },
      sweep: {
        crashAfter: (info) => {
          calls.enter('sweep', info.invocation);
          return false;
        },
        onInvocation: (r) => errorText(r),
      },
      // A failed page comes back soon (the construct's is the page function's timeout).
      sweepVisibilitySeconds: 5,
      apply: {
        ...o.apply,
        maxBatchingWindowMs: 0,
        crashAfter: (info) => {
          calls.enter('apply', info.invocation);
          if (crashed || crashPending || !crashArmed || info.records.length < o.crash.minRecords) return false;
          crashPending = { invocation: info.invocation, records: info.records.length };
          return o.crash.afterMs;
        },
        onInvocation: (r) => {
          errorText(r);
          abandoned('apply', r);
          // The handler may finish before the crash timer: only a real death counts, else try the next one.
          if (crashPending?.invocation === r.invocation) {
            if (r.outcome === 'crash') crashed = crashPending;
            crashPending = undefined;
          }
        },
      },
      env: {
        NANGO_TIMEOUT_MS: String(o.clientTimeoutMs),
        APPLY_GROUP_CONCURRENCY: String(o.groupConcurrency),
        APPLY_MAX_DEFER_SECONDS: String(o.maxDeferSeconds ?? 5),
        // The shortest interval: a tick starts a run when the last one started half a minute ago.
        INDEX_SWEEP_SECONDS: '60',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      },
    });
    const p = pipeline;
    const nango = p.nango!;
    nangoOrigin = new URL(p.nangoUrl).origin;
    const create = (c: WorldConnection) => {
      nango.createConnection(asSeed(c));
      pendingCreation.splice(pendingCreation.indexOf(c), 1);
    };

    /**
     * Re-tags one candidate. The last moves it to a customer with no events, so every key it holds from
     * its customer must be cleared: it waits (false) until some candidate holds such a key (how soon apply sends
     * varies with the machine's load; a move before any send would clear nothing), or until `now`.
     */
    // Keys a customer (a tag subject) sets, as opposed to keys set by connection id, which stay with a moved connection.
    const tagKeys = new Set(
      workload.events.flatMap((e) =>
        e.expect.kind === 'valid' && e.expect.subject.startsWith('tags:') ? Object.keys(e.expect.patch) : [],
      ),
    );
    const retagOne = (now: boolean): boolean => {
      const last = retagShares.length === 1;
      const sent = retagCandidates.filter((x) =>
        nango
          .applyHistory(x.connectionId, x.providerConfigKey)
          .some((h) => Object.entries(h.patch).some(([k, v]) => v !== null && tagKeys.has(k))),
      );
      if (last && !sent.length && !now) return false;
      retagShares.shift();
      const pool = sent.length ? sent : retagCandidates;
      const c = pool[Math.floor(retagRand() * pool.length)]!;
      retagCandidates.splice(retagCandidates.indexOf(c), 1);
      const from = c.tags.organization_id!;
      const others = workload.customers.filter((x) => x !== from);
      const to = last ? `moved-${o.workload.seed}` : others[Math.floor(retagRand() * others.length)]!;
      nango.retag(c.connectionId, c.providerConfigKey, { ...c.tags, organization_id: to });
      retags.push({ connectionId: c.connectionId, providerConfigKey: c.providerConfigKey, from, to, atMs: Date.now() - started });
      return true;
    };

    // Rotation: Secrets Manager and Nango change the key at the same moment; cached keys go stale.
    let rotated: { atRequest: number; atMs: number } | undefined;
    let sweepTicked = false;
    monitor = setInterval(() => {
      const share = routed / copies;
      if (!crashArmed && share >= o.crash.atShare) crashArmed = true;
      if (!rotated && share >= o.rotateAtShare) {
        p.secrets.setSecret(p.secretId, keyAfter);
        nango.setSecretKey(keyAfter);
        rotated = { atRequest: nango.stats().requests, atMs: Date.now() - started };
      }
      // Someone re-tags a connection through Nango's API: no webhook; only the sweep can see it.
      while (retagShares.length && retagShares[0]! <= share && retagCandidates.length) if (!retagOne(false)) break;
      if (o.retags && !sweepTicked && share >= o.retags.sweepAtShare) {
        sweepTicked = true;
        void p.sweep(false).then(
          (t) => sweeps.push(`${String(t.action)} at ${((Date.now() - started) / 1000).toFixed(1)} s`),
          (e: unknown) => errors.push(`sweep tick: ${String(e)}`),
        );
      }
      // A user finishes the Connect UI: the connection appears and Nango announces it.
      for (const c of [...pendingCreation]) if (c.appears.at === 'share' && c.appears.share <= share) create(c);
    }, 10);
    if (o.progressEveryMs) {
      progress = setInterval(() => {
        const s = nango.stats();
        printAlways(
          `[${Math.round((Date.now() - started) / 1000)} s] route took ${routed}/${copies} events; Nango requests ${s.requests}, writes applied ${s.applied}`,
        );
      }, o.progressEveryMs);
    }

    // Parked after their writes: every sync send naming one of them is refused, on every receive.
    const parkRand = mulberry32(o.workload.seed ^ 0x9a4c);
    const parked = workload.wave1.filter((e) => e.expect.kind === 'valid' && parkRand() < (o.parkShare ?? 0)).map((e) => e.id);
    if (parked.length) {
      p.refuseSqs((r) => r.action === 'SendMessageBatch' && r.queueName.endsWith('sync.fifo') && parked.some((id) => r.body.includes(id)));
    }

    const sent: SentEvent[] = [];
    const backlog = async () => {
      const c = await Promise.all([p.queues.ingressUrl, p.queues.syncUrl].map((u) => queueCounts(p.sqs, u)));
      return c.reduce((n, x) => n + x.visible + x.inFlight + x.delayed, 0);
    };
    const chunk = o.maxBacklog ? Math.max(10, Math.floor(o.maxBacklog / 10)) : workload.wave1.length;
    for (let at = 0; at < workload.wave1.length; at += chunk) {
      while (o.maxBacklog && (await backlog()) > o.maxBacklog) await sleep(100);
      sent.push(...(await p.send(workload.wave1.slice(at, at + chunk).map((e) => e.body))));
    }
    // Wave 2 (older events) only once route has taken wave 1: they arrive in later batches.
    await waitUntilDrained(p.sqs, [p.queues.ingressUrl], { timeoutMs: o.drainTimeoutMs, quietMs: 100 });
    phase('wave 1 routed');
    for (const c of pendingCreation.filter((x) => x.appears.at === 'share')) create(c);
    sent.push(...(await p.send(workload.wave2.map((e) => e.body))));
    await waitUntilDrained(p.sqs, [p.queues.ingressUrl], { timeoutMs: o.drainTimeoutMs, quietMs: 100 });
    phase('wave 2 routed');
    // Connections that appear only after every event about them was routed: only their seed can reach them.
    for (const c of [...pendingCreation]) create(c);
    await p.drain({ timeoutMs: o.drainTimeoutMs, quietMs: 500 });
    phase('drained');
    let sweptPastRetags: number | undefined;
    if (o.retags) {
      // A re-tag still waiting for a connection that holds keys: everything is sent by now.
      while (retagShares.length && retagCandidates.length) retagOne(true);
      await p.drain({ timeoutMs: o.drainTimeoutMs, quietMs: 500 });
      // The tenancy window: a run that starts after the last re-tag (ticks a scaled second apart).
      const lastRetag = Math.max(0, ...retags.map((r) => r.atMs));
      for (;;) {
        const t = await p.sweep(false);
        if (t.action === 'started' && Date.now() - started > lastRetag) {
          sweptPastRetags = Date.now() - started;
          sweeps.push(`started at ${(sweptPastRetags / 1000).toFixed(1)} s`);
          break;
        }
        if (Date.now() - started > o.drainTimeoutMs) break;
        await sleep(1_000);
      }
      await p.drain({ timeoutMs: o.drainTimeoutMs, quietMs: 500 });
      phase('swept past the last re-tag and drained');
    }
    // Let an abandoned (crashed) invocation settle before reading the end state.
    await sleep(200);

    const [dlq, syncs] = [await p.dlq(), p.syncs()];
    // The desired state of every subject a sync named, as apply reads it: what must be at Nango.
    const desired: Record<string, DesiredKey[]> = {};
    for (const subject of new Set(syncs.flatMap((x) => x.message?.subjects ?? []))) desired[subject] = await p.state.readDesired(subject);
    const routeStats = p.route.stats();
    const applyStats = p.apply.stats();
    clearInterval(monitor);
    if (progress) clearInterval(progress);
    await p.stop();
    pipeline = undefined;
    capture.stop();
    calls.stop();

    const input: InvariantInput = {
      workload,
      sent,
      dlq,
      syncs,
      desired,
      nango,
      keys: [keyBefore, keyAfter],
      leaks: { logHits: capture.leaks(), errors },
      injected: faults.injected(),
      retags,
      ...(sweptPastRetags !== undefined ? { sweptPastRetagsAtMs: sweptPastRetags } : {}),
      nangoCalls: calls.counts(),
      unawaited: (r) => calls.unawaited(r.headers[TAG_HEADER], r.endedAt),
      died: (r) => calls.died(r.headers[TAG_HEADER]),
      sentDead: (r) => calls.sentDead(r.headers[TAG_HEADER], r.startedAt),
      route: routeStats,
      apply: applyStats,
      extra: {
        seed: o.workload.seed,
        'key rotation': rotated ? `at Nango request ${rotated.atRequest} (${(rotated.atMs / 1000).toFixed(1)} s)` : 'DID NOT HAPPEN',
        'apply crash': crashed
          ? `invocation ${crashed.invocation} died ${o.crash.afterMs} ms in, ${crashed.records} records`
          : 'DID NOT HAPPEN',
        'route crash': routeCrashed ? `invocation ${o.routeCrashInvocation} died before deleting its batch` : 'DID NOT HAPPEN',
        'stale keys dropped at route': staleKeys,
        'events parked after their writes (sync sends refused)': parked.length,
        ...(o.retags
          ? {
              're-tags': retags.map((r) => `${(r.atMs / 1000).toFixed(1)} s`).join(', ') || 'NONE',
              'sweep ticks': sweeps.join('; ') || 'NONE',
            }
          : {}),
        'route invocations': `${routeMs.length}, median ${percentile(routeMs, 0.5)} ms, p95 ${percentile(routeMs, 0.95)} ms`,
        phases: phases.join(', '),
        'captured output': `${(capture.bytes() / 1e6).toFixed(1)} MB, ${capture.lines().toLocaleString('en-US')} lines`,
        elapsed: `${((Date.now() - started) / 1000).toFixed(1)} s`,
      },
    };
    const report = computeInvariants(input);
    const table = formatInvariants(report, o.title);
    return { report, input, table, elapsedMs: Date.now() - started, rotated: rotated !== undefined, crashed };
  } finally {
    if (monitor) clearInterval(monitor);
    if (progress) clearInterval(progress);
    // Handlers still running after a failure keep logging: stop them before the capture.
    await pipeline?.stop();
    capture.stop();
    calls.stop();
  }
}
