/**
 * The printed table (Markdown, so bench/PERFORMANCE.md can quote it as printed): one row per figure,
 * ours beside its target and the peers', every figure from the same run. Pure: measurements in, text out.
 */
import type { BundleInfo } from './bundles.ts';
import { apiDestinationCostPerM, awsUse, IDLE_POLLERS_PER_QUEUE, idleUsdPerQueueMonth, PRICES } from './cost.ts';
import type { MicroResults } from './micro.ts';
import { LAMBDA_MEMORY_GB, type DrainResult, type SeedResult, type SteadyResult, type TrickleResult } from './ours.ts';
import type { PeerResult } from './peers/run.ts';

/** Version 1 on this backlog (recorded, not re-run: version 1 is gone from the code). */
export const V1_BASELINE = { calls: 3453, overFloor: 6.9 };

export interface BenchResults {
  meta: {
    date: string;
    node: string;
    cpu: string;
    cores: number;
    loadAverage: number[];
    commit: string;
    wallSeconds?: number;
    /** Scenarios that did not finish: their rows are missing. */
    failed?: string[];
  };
  settings: Record<string, unknown>;
  drain?: DrainResult;
  /** The same backlog with the index cold (no reconcile before it): the first run after a deployment, before the backfill. */
  cold?: DrainResult;
  /** The backlog under a rate limit scaled to a short window (20 per 2 s). */
  rated?: DrainResult;
  /** The backlog under Nango's real window (200 per 60 s), headers as the real server sends them. */
  ratedReal?: DrainResult;
  steady?: SteadyResult;
  trickle?: TrickleResult;
  seed?: SeedResult;
  peers: PeerResult[];
  micro?: MicroResults;
  bundles: BundleInfo[];
}

/**
 * The cold-start bound in this run: import times move with the machine (the SDK consumer's bundle took
 * 123 ms in one quiet run and 164 ms in another), so the target is the ratio side by side.
 */
const importBound = (sdkConsumerImportMs: number) => (TARGETS.routeImportMs * sdkConsumerImportMs) / TARGETS.sdkConsumerImportMs;

/** The benchmark's targets, in one place: each headline row is judged against its own. */
export const TARGETS = {
  steadyCallsPerTouched: 1.05,
  wallOverBound: 1.15,
  backlogCallsPerTouched: 1.1,
  costPerM: 1.68,
  /** 130 ms when the SDK consumer imports in 127 ms, as first measured: judged as that ratio in the same run. */
  routeImportMs: 130,
  sdkConsumerImportMs: 127,
  trickleP50Ms: 1000,
  seedP50Ms: 500,
} as const;

export interface Row {
  /** Headline rows carry a target; the rest are details. */
  headline?: boolean;
  section: string;
  measure: string;
  ours: string;
  target: string;
  beside: string;
  verdict: 'PASS' | 'MISS' | '';
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const s1 = (ms: number) => `${f1(ms / 1000)} s`;
const kib = (b: number) => `${f0(b / 1024)} KiB`;
/** A DLQ count with its codes: `3 (sync-dlq:forbidden x2, ingress-dlq:invalid_detail x1)`. */
const dlqCell = (dlq: DrainResult['dlq']) =>
  `${dlq.total}${
    dlq.total
      ? ` (${Object.entries(dlq.byCode)
          .map(([k, n]) => `${k} x${n}`)
          .join(', ')})`
      : ''
  }`;
const usd = (n: number) => `$${n.toFixed(2)}`;
const verdict = (pass: boolean): Row['verdict'] => (pass ? 'PASS' : 'MISS');

/** DLQ entries whose error was a 429 (Nango's code `too_many_request`). */
const rateLimitedParked = (d: DrainResult): number =>
  Object.entries(d.dlq.byCode)
    .filter(([k]) => /too_many|rate|429/.test(k))
    .reduce((n, [, c]) => n + c, 0);

export function rows(r: BenchResults): Row[] {
  const out: Row[] = [];
  const add = (section: string, measure: string, ours: string, target = '', beside = '', v: Row['verdict'] = '') =>
    out.push({ section, measure, ours, target, beside, verdict: v });
  const head = (section: string, measure: string, ours: string, target: string, beside: string, v: Row['verdict']) =>
    out.push({ headline: true, section, measure, ours, target, beside, verdict: v });
  const peer = (name: PeerResult['peer']) => r.peers.find((p) => p.peer === name);
  const seq = peer('sequential');
  const par = peer('parallel');
  const model = peer('api-destination-model');
  const peerCell = (f: (p: PeerResult) => string) =>
    [seq && `SDK seq. ${f(seq)}`, par && `SDK par. ${f(par)}`, model && `API-dest. MODEL ${f(model)}`].filter(Boolean).join('; ');
  const d = r.drain;

  // 1. Steady state: every customer's event after its index expired.
  const st = r.steady;
  if (st) {
    const S = '1. steady state';
    // The floor is one PATCH per (event, connection) and per seed; where apply folded a customer's
    // changes into fewer PATCHes (it fell behind), the PATCHes it made are the floor instead, so
    // folding never hides a list per event.
    const touched = Math.min(st.floor, st.calls.patch);
    const perTouched = st.calls.total / touched;
    head(
      S,
      `Nango calls per connection touched, listing included (${st.customers} customers, ${st.rounds} events each ${s1(st.roundMs)} apart, index TTL ${st.indexTtlSeconds} s)`,
      `${f2(perTouched)} (${st.calls.list} lists + ${st.calls.patch} PATCHes${st.calls.get + st.calls.other ? ` + ${st.calls.get + st.calls.other} other` : ''} for ${touched})`,
      `<= ${TARGETS.steadyCallsPerTouched}`,
      `${st.events} events; ${st.pairs} event x connection + ${st.created} seeds${st.calls.patch < st.floor ? ` (${st.floor - st.calls.patch} folded by apply)` : ''}; ${st.retags} re-tags, ${st.created} new connections (${st.seeded} seeded); DLQ ${st.dlq.total}`,
      verdict(perTouched <= TARGETS.steadyCallsPerTouched),
    );
    head(
      S,
      "re-tagged connections: the former customer's later events written to them, after the stated window",
      `${st.formerLate}`,
      `0 after ${s1(st.tenancyWindowMs)}`,
      `${st.retags} connections moved through the API (no webhook); within the window ${st.formerWrites - st.formerLate}${st.formerWrites ? `, the latest sent ${s1(st.latestFormerMs)} after the change` : ''}`,
      verdict(st.formerLate === 0),
    );
  }

  // 2. Drains at the limit: the target is judged at Nango's real window; the scaled window is kept
  // beside it for reference, since at 2 s the bound is shorter than route's own time on this machine.
  const rated = (q: DrainResult | undefined, rl: { limit: number; windowMs: number } | undefined, label: string, judged: boolean) => {
    if (q?.boundMs === undefined || !rl) return;
    const S = `2. drain at the limit, ${label} (${rl.limit} per ${rl.windowMs / 1000} s)`;
    const routeDone = q.routeDoneMs ?? Number.NaN;
    const where = `${q.touched} connections; fixed-window floor ${s1(q.fixedWindowFloorMs ?? Number.NaN)}; route done at ${s1(routeDone)}`;
    if (judged) {
      head(
        S,
        'wall / floor bound (connections touched / allowed rate)',
        `${f2(q.wallOverBound!)}x (${s1(q.wallMs)} / ${s1(q.boundMs)})`,
        `<= ${TARGETS.wallOverBound}x`,
        where,
        verdict(q.wallOverBound! <= TARGETS.wallOverBound),
      );
    } else {
      // No verdict: at a 2 s window the bound can be shorter than route's own time on the harness's
      // shared cores, and then the run measures route, not the limit. The cell says which, from this
      // run's figures: when the requests first reached the limit in a window, and when route last ran.
      const first = q.timeline?.requests.findIndex((n) => n >= rl.limit) ?? -1;
      const atLimit = first >= 0 && q.timeline ? `at the limit from ${s1(first * q.timeline.bucketMs)}` : 'never at the limit';
      const why =
        routeDone > q.boundMs
          ? `${atLimit}; route (the whole pipeline, producer and stand-ins in one process on ${r.meta.cores} shared cores) last ran at ${s1(routeDone)}, past the ${s1(q.boundMs)} bound, so this run measures route's CPU, not the limit`
          : `${atLimit}; route last ran at ${s1(routeDone)}, inside the ${s1(q.boundMs)} bound`;
      head(
        S,
        "wall / floor bound (connections touched / allowed rate), for reference beside Nango's window",
        `${f2(q.wallOverBound!)}x (${s1(q.wallMs)} / ${s1(q.boundMs)})`,
        "reference (target judged at Nango's window)",
        `${q.touched} connections; fixed-window floor ${s1(q.fixedWindowFloorMs ?? Number.NaN)}; ${why}`,
        '',
      );
    }
    head(
      S,
      '429s answered / 429s that ended in a DLQ',
      `${q.calls.rateLimited} / ${rateLimitedParked(q)}`,
      '0 in a DLQ',
      `DLQ (any cause) ${dlqCell(q.dlq)}; wrong connections ${q.final.wrongConnections} of ${q.final.connections}`,
      verdict(rateLimitedParked(q) === 0 && q.dlq.total === 0 && q.final.wrongConnections === 0),
    );
    add(
      S,
      'Nango calls (list / PATCH), per connection touched',
      `${q.calls.total} (${q.calls.list} / ${q.calls.patch}), ${f2(q.callsPerTouched)}`,
      `<= ${TARGETS.backlogCallsPerTouched}`,
      q.timeline ? `requests per window: ${q.timeline.requests.join(' ')}` : '',
      verdict(q.callsPerTouched <= TARGETS.backlogCallsPerTouched),
    );
  };
  rated(r.ratedReal, r.settings.rateLimitReal as { limit: number; windowMs: number } | undefined, "Nango's window", true);
  rated(r.rated, r.settings.rateLimit as { limit: number; windowMs: number } | undefined, 'scaled window', false);

  // 3. Cost.
  if (d?.aws) {
    const u = awsUse(
      d.aws,
      d.events,
      [
        { name: 'route', ...d.lambda.route, memoryGb: LAMBDA_MEMORY_GB.route },
        { name: 'apply', ...d.lambda.apply, memoryGb: LAMBDA_MEMORY_GB.apply },
      ],
      LAMBDA_MEMORY_GB.route,
      d.ingressQueueName,
      d.idleReceives,
    );
    const pairsPerEvent = d.pairs / d.events;
    const modelUsd = apiDestinationCostPerM(pairsPerEvent);
    const pe = u.perEvent;
    head(
      '3. cost',
      `per million events (${PRICES.region}, list prices of ${PRICES.asOf}), backlog at the construct's defaults`,
      `${usd(u.costPerM.total)} (SQS ${usd(u.costPerM.sqs)}, DynamoDB ${usd(u.costPerM.dynamodb)}, Lambda ${usd(u.costPerM.lambda)}: ${Object.entries(
        u.split.lambda,
      )
        .map(([n, v]) => `${n} ${usd(v)}`)
        .join(', ')}, SM ${usd(u.costPerM.secretsManager)})`,
      `<= ${usd(Math.min(TARGETS.costPerM, modelUsd))}`,
      `API-dest. MODEL ${usd(modelUsd)}; ours via an EventBridge bus ${usd(u.totalViaEventBridgePerM)}; per event: SQS ${f2(pe.producer)} producer / ${f2(pe.eventSource)} event sources / ${f2(pe.handlersSqs)} handlers, DynamoDB ${f2(pe.dynamoWrites)} writes / ${f2(pe.dynamoReads)} reads; idle polling apart: ${usd(idleUsdPerQueueMonth(false))} per standard queue-month, ${usd(idleUsdPerQueueMonth(true))} per FIFO (${IDLE_POLLERS_PER_QUEUE} pollers, 20 s polls; ${f2(pe.idle)} idle receives per event in this run)`,
      verdict(u.costPerM.total <= Math.min(TARGETS.costPerM, modelUsd)),
    );
    add(
      'details: AWS per event (backlog, rate limit off)',
      `Lambda GB-s (route ${LAMBDA_MEMORY_GB.route * 1024} MB + apply ${LAMBDA_MEMORY_GB.apply * 1024} MB); Secrets Manager calls`,
      `${f2(u.gbSecondsPerEvent)}; ${pe.secrets.toFixed(4)}`,
      '',
      `${d.lambda.route.invocations} + ${d.lambda.apply.invocations} invocations`,
    );
  }

  // 4. Cold start.
  const m = r.micro;
  const hello = m?.coldStart.find((c) => c.name === 'hello');
  const sdkCold = m?.coldStart.find((c) => c.name === 'sdk-consumer');
  const routeCold = m?.coldStart.find((c) => c.name === 'route');
  if (routeCold) {
    const b = r.bundles.find((x) => x.name === 'route' && x.variant === 'deploy');
    head(
      '4. cold start',
      `route: import (median of ${routeCold.runs}, fresh node processes)`,
      `${f0(routeCold.importMs)} ms`,
      sdkCold
        ? `<= ${f0(importBound(sdkCold.importMs))} ms (${TARGETS.routeImportMs} ms at the SDK consumer's ${TARGETS.sdkConsumerImportMs} ms, scaled to its ${f0(sdkCold.importMs)} ms here)`
        : `<= ${TARGETS.routeImportMs} ms`,
      `${sdkCold ? `route ${f2(routeCold.importMs / sdkCold.importMs)}x the SDK consumer; ` : ''}${hello ? `${f1(routeCold.totalMs / hello.totalMs)}x hello-world from process start; ` : ''}first event +${f0(routeCold.invokeMs)} ms${b ? `; bundle ${kib(b.bytes)}, ${kib(b.startBytes)} read at import (undici ${f0((b.byPackage.find((p) => p.name === 'undici')?.share ?? 0) * 100)}% of the bundle)` : ''}`,
      verdict(routeCold.importMs <= (sdkCold ? importBound(sdkCold.importMs) : TARGETS.routeImportMs)),
    );
  }

  // 5. Latency, with the backlog's coalescing kept.
  const t = r.trickle;
  if (t) {
    head(
      '5. latency',
      `trickle (${t.eventsPerSecond} events/s): send to metadata at the stand-in, p50 (p95)`,
      `${f0(t.latencyMs.p50)} ms (${f0(t.latencyMs.p95)})`,
      `<= ${TARGETS.trickleP50Ms} ms`,
      `${t.latencyMs.n} writes timed, ${t.superseded} superseded; ${f2(t.patchesPerPair)} PATCHes per event x connection; ${t.calls.list + t.calls.get} GETs; wrong ${t.final.wrongConnections} of ${t.final.connections}`,
      verdict(t.latencyMs.p50 <= TARGETS.trickleP50Ms),
    );
  }
  const sd = r.seed;
  if (sd) {
    head(
      '5. latency',
      `seeding: auth webhook to metadata matching the subject, p50 (p95), ${sd.seeded} of ${sd.newConnections}`,
      `${f0(sd.latencyMs.p50)} ms (${f0(sd.latencyMs.p95)})`,
      `<= ${TARGETS.seedP50Ms} ms`,
      sd.seeded === sd.newConnections ? 'every new connection seeded' : `${sd.newConnections - sd.seeded} never seeded`,
      verdict(sd.latencyMs.p50 <= TARGETS.seedP50Ms && sd.seeded === sd.newConnections),
    );
  }
  if (d) {
    head(
      '5. latency',
      `backlog (${d.events} events, rate limit off), index filled first: Nango calls per connection touched`,
      `${f2(d.callsPerTouched)} (${d.calls.list} / ${d.calls.patch})`,
      `<= ${TARGETS.backlogCallsPerTouched}`,
      `v1 (recorded): ${V1_BASELINE.overFloor}; ${peerCell((p) => f2(p.callsPerTouched))}; wrong ${d.final.wrongConnections} of ${d.final.connections}, DLQ ${d.dlq.total}`,
      verdict(d.callsPerTouched <= TARGETS.backlogCallsPerTouched && d.final.wrongConnections === 0),
    );
  }

  // Details.
  if (d) {
    const S = 'details: backlog, rate limit off';
    add(
      S,
      'Nango calls (list / PATCH), index filled by a reconcile first (its calls included)',
      `${d.calls.total} (${d.calls.list} / ${d.calls.patch})`,
      '',
      `v1 (recorded): ${V1_BASELINE.calls}; ${peerCell((p) => `${p.calls.total} on ${p.events} ev.`)}${
        d.warmIndex ? `; the reconcile: ${d.warmIndex.calls} call(s), ${d.warmIndex.subjects} subjects indexed` : ''
      }`,
    );
    add(
      S,
      'wall time (first send to last Nango answer)',
      s1(d.wallMs),
      '',
      peerCell((p) => `${s1(p.wallMs)} for ${p.events} ev.`),
    );
    if (seq) {
      const ours = d.events / (d.wallMs / 1000);
      add(
        S,
        'throughput, events/s (construct defaults)',
        `${f0(ours)} (${f1(ours / seq.eventsPerSecond)}x seq. SDK)`,
        '',
        `${peerCell((p) => `${f0(p.eventsPerSecond)} (ours ${f1(ours / p.eventsPerSecond)}x)`)}; the harness's producer alone sent ${f0(d.events / (d.sendMs / 1000))}/s`,
      );
    }
    add(
      S,
      'wrong connections (owned keys != fold by version)',
      `${d.final.wrongConnections} of ${d.final.connections}`,
      '0',
      peerCell((p) => `${p.final.wrongConnections} of ${p.final.connections}`),
      verdict(d.final.wrongConnections === 0),
    );
    add(
      S,
      'DLQ entries',
      dlqCell(d.dlq),
      '0',
      d.dlq.total
        ? `parked on attempt ${[...new Set(d.dlq.attempts)].sort().join(', ')} (first error ${d.dlq.firstError?.code}, retryable: ${d.dlq.firstError?.retryable})`
        : '',
      verdict(d.dlq.total === 0),
    );
  }
  const cold = r.cold;
  if (cold) {
    add(
      'details: backlog, cold index (no reconcile before it)',
      'Nango calls (list / PATCH), per connection touched',
      `${cold.calls.total} (${cold.calls.list} / ${cold.calls.patch}), ${f2(cold.callsPerTouched)}`,
      '',
      `one list per customer (${cold.calls.list}) on top of the PATCHes; wrong connections ${cold.final.wrongConnections} of ${cold.final.connections}, DLQ ${cold.dlq.total}`,
    );
  }
  if (t) {
    const S = `details: trickle, ${t.eventsPerSecond} events/s`;
    add(
      S,
      'PATCHes per event x connection',
      `${f2(t.patchesPerPair)} (${t.calls.patch} / ${t.pairs})`,
      '<= 1.0',
      '',
      verdict(t.patchesPerPair <= 1.0),
    );
    add(
      S,
      'GETs while the index is warm (apply makes none)',
      `${t.calls.list + t.calls.get}`,
      '0',
      '',
      verdict(t.calls.get + t.calls.list === 0),
    );
  }
  if (sd) {
    const n = sd.reconcile.connections;
    // One call per started page; a last full page needs one more (empty) page to know it was the last.
    const floor = Math.floor(n / 1000) + 1;
    add(
      'details: reconcile',
      'Nango calls per 1,000 connections (page size 1,000)',
      `${f2((sd.reconcile.calls * 1000) / n)} (${sd.reconcile.calls} for ${n}; ${sd.reconcile.drifted} drifted)`,
      `1 (${floor} for ${n})`,
      '',
      verdict(sd.reconcile.calls <= floor),
    );
  }
  if (d?.reconcile)
    add(
      'details: reconcile',
      'after the backlog: drifted connections',
      `${d.reconcile.drifted} of ${d.reconcile.checked} (${d.reconcile.calls} call)`,
      '0',
      '',
      verdict(d.reconcile.drifted === 0),
    );
  if (m) {
    const S = 'details: functions';
    for (const c of m.cpu) {
      const p = m.profiles[c.name];
      add(
        S,
        `CPU per record: ${c.name} (${c.shape})`,
        `${f0(c.usPerRecord)} us`,
        '',
        p
          ? `dominated by ${p.byPackage
              .slice(0, 3)
              .map((b) => `${b.name} ${f0(b.share * 100)}%`)
              .join(', ')}`
          : '',
      );
    }
    for (const mm of m.memory)
      add(
        S,
        `peak RSS: ${mm.name}, batch of ${mm.batch}`,
        `${f1(mm.peakRssMiB)} MiB`,
        '',
        `after import ${f1(mm.baseRssMiB)} MiB; heap +${f1(mm.heapDeltaMiB)} MiB`,
      );
    for (const c of m.coldStart) {
      add(
        S,
        `cold start: ${c.name} (import + first invocation, median of ${c.runs})`,
        `${f0(c.importMs)} + ${f0(c.invokeMs)} ms`,
        '',
        [
          hello && c !== hello ? `${f1(c.totalMs / hello.totalMs)}x hello-world from process start` : '',
          m.coldProfiles?.[c.name]
            ? `dominated by ${m.coldProfiles[c.name]!.byPackage.slice(0, 3)
                .map((b) => `${b.name} ${f0(b.share * 100)}%`)
                .join(', ')}`
            : '',
        ]
          .filter(Boolean)
          .join('; '),
      );
    }
  }
  for (const b of r.bundles.filter((x) => x.variant === 'deploy')) {
    add(
      'details: functions',
      `bundle as deployed: ${b.name}`,
      `${kib(b.bytes)} (${kib(b.startBytes)} at import)`,
      '',
      `${b.byPackage
        .slice(0, 3)
        .map((p) => `${p.name} ${f0(p.share * 100)}%`)
        .join(', ')}${b.neverRuns.length ? `; never runs: ${kib(b.neverRuns.reduce((n, x) => n + x.bytes, 0))}` : ''}`,
    );
  }
  const lags: [string, { loopLag?: { p50Ms: number; p99Ms: number; maxMs: number } } | undefined][] = [
    ['steady', r.steady],
    ['backlog', r.drain],
    ['rated (scaled)', r.rated],
    ["rated (Nango's window)", r.ratedReal],
    ['trickle', r.trickle],
    ['seeding', r.seed],
  ];
  for (const [name, x] of lags) {
    if (!x?.loopLag) continue;
    // The whole pipeline shares one event loop here (stand-ins included); on AWS each function has its own.
    add(
      'harness',
      `event-loop lag of the pipeline process, ${name}: p50 / p99 / max`,
      `${f0(x.loopLag.p50Ms)} / ${f0(x.loopLag.p99Ms)} / ${f0(x.loopLag.maxMs)} ms`,
      '',
      name === 'backlog' && r.drain ? `producer send of ${r.drain.events} events took ${s1(r.drain.sendMs)}` : '',
    );
  }
  return out;
}

const table = (xs: Row[]) => [
  '| section | measure | ours | target | beside it | |',
  '|---|---|---|---|---|---|',
  ...xs.map((x) => `| ${x.section} | ${x.measure} | ${x.ours} | ${x.target} | ${x.beside} | ${x.verdict} |`),
];

/** The headline rows alone (the README's table). */
export function renderHeadline(r: BenchResults): string {
  return table(rows(r).filter((x) => x.headline)).join('\n');
}

/** The run's one-line stamp: when, where, how long. */
export function stampLine(r: BenchResults): string {
  const m = r.meta;
  return `${m.date} · commit ${m.commit} · Node ${m.node} · ${m.cpu} (${m.cores} cores, load ${m.loadAverage.map((l) => l.toFixed(1)).join(' ')} at start)${m.wallSeconds ? ` · bench ran ${f0(m.wallSeconds)} s` : ''}${m.failed?.length ? ` · did not finish: ${m.failed.join(', ')}` : ''}`;
}

export function render(r: BenchResults): string {
  const all = rows(r);
  const lines = [
    '# nango-metadata-sync benchmark (version 3)',
    '',
    stampLine(r),
    '',
    '## Targets',
    '',
    ...table(all.filter((x) => x.headline)),
    '',
    '## Details',
    '',
    ...table(all.filter((x) => !x.headline)),
    '',
    `Settings: ${JSON.stringify(r.settings)}`,
  ];
  return lines.join('\n');
}
