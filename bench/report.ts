/**
 * The printed table (Markdown, so bench/PERFORMANCE.md can quote it as printed): one row per figure,
 * ours beside its target and the peers', every figure from the same run. Pure: measurements in, text out.
 */
import type { BundleInfo } from './bundles.ts';
import { apiDestinationCostPerM, awsUse, PRICES } from './cost.ts';
import type { MicroResults } from './micro.ts';
import { LAMBDA_MEMORY_GB, type DrainResult, type SeedResult, type TrickleResult } from './ours.ts';
import type { PeerResult } from './peers/run.ts';

/** Version 1 on this backlog (recorded, not re-run: version 1 is gone from the code). */
export const V1_BASELINE = { calls: 3453, overFloor: 6.9 };

export interface BenchResults {
  meta: { date: string; node: string; cpu: string; cores: number; loadAverage: number[]; commit: string; wallSeconds?: number };
  settings: Record<string, unknown>;
  drain?: DrainResult;
  /** The same backlog with the index cold (no reconcile before it): the first run after a deployment, before the backfill. */
  cold?: DrainResult;
  rated?: DrainResult;
  trickle?: TrickleResult;
  seed?: SeedResult;
  peers: PeerResult[];
  micro?: MicroResults;
  bundles: BundleInfo[];
}

export interface Row {
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
  const peer = (name: PeerResult['peer']) => r.peers.find((p) => p.peer === name);
  const seq = peer('sequential');
  const par = peer('parallel');
  const model = peer('api-destination-model');
  const peerCell = (f: (p: PeerResult) => string) =>
    [seq && `SDK seq. ${f(seq)}`, par && `SDK par. ${f(par)}`, model && `API-dest. MODEL ${f(model)}`].filter(Boolean).join('; ');

  const d = r.drain;
  if (d) {
    const S = '1. backlog, rate limit off';
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
      'calls per connection touched (floor 1.0)',
      f2(d.callsPerTouched),
      '<= 1.1',
      `v1 (recorded): ${V1_BASELINE.overFloor}; ${peerCell((p) => f2(p.callsPerTouched))}`,
      verdict(d.callsPerTouched <= 1.1),
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
      const ratio = ours / seq.eventsPerSecond;
      add(
        S,
        'throughput, events/s (construct defaults vs sequential SDK)',
        `${f0(ours)} (${f1(ratio)}x seq. SDK)`,
        '>= 10x',
        `${peerCell((p) => `${f0(p.eventsPerSecond)} (ours ${f1(ours / p.eventsPerSecond)}x)`)}; the harness's producer alone sent ${f0(d.events / (d.sendMs / 1000))}/s`,
        verdict(ratio >= 10),
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
      '1. backlog, cold index (no reconcile before it)',
      'Nango calls (list / PATCH), per connection touched',
      `${cold.calls.total} (${cold.calls.list} / ${cold.calls.patch}), ${f2(cold.callsPerTouched)}`,
      '',
      `one list per customer (${cold.calls.list}) on top of the PATCHes; wrong connections ${cold.final.wrongConnections} of ${cold.final.connections}, DLQ ${cold.dlq.total}`,
    );
  }
  const q = r.rated;
  if (q?.boundMs !== undefined) {
    const rl = r.settings.rateLimit as { limit: number; windowMs: number };
    const S = `1. backlog, rate limit ${rl.limit} per ${rl.windowMs / 1000} s`;
    add(
      S,
      'wall / floor bound (connections touched / allowed rate)',
      `${f2(q.wallOverBound!)}x (${s1(q.wallMs)} / ${s1(q.boundMs)})`,
      '<= 1.1x',
      '',
      verdict(q.wallOverBound! <= 1.1),
    );
    add(
      S,
      'Nango calls (list / PATCH), per connection touched',
      `${q.calls.total} (${q.calls.list} / ${q.calls.patch}), ${f2(q.callsPerTouched)}`,
      '<= 1.1',
      '',
      verdict(q.callsPerTouched <= 1.1),
    );
    add(
      S,
      '429s answered / 429s that ended in a DLQ',
      `${q.calls.rateLimited} / ${rateLimitedParked(q)}`,
      '0 in a DLQ',
      '',
      verdict(rateLimitedParked(q) === 0),
    );
    add(S, 'DLQ entries (any cause)', dlqCell(q.dlq), '0', '', verdict(q.dlq.total === 0));
    add(S, 'wrong connections', `${q.final.wrongConnections} of ${q.final.connections}`, '0', '', verdict(q.final.wrongConnections === 0));
  }
  const t = r.trickle;
  if (t) {
    const S = `2. trickle, ${t.eventsPerSecond} events/s`;
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
    add(
      S,
      'send to metadata at the stand-in, p50 / p95',
      `${f0(t.latencyMs.p50)} / ${f0(t.latencyMs.p95)} ms`,
      '',
      `${t.latencyMs.n} writes timed; ${t.superseded} superseded before written`,
    );
    add(S, 'wrong connections', `${t.final.wrongConnections} of ${t.final.connections}`, '0', '', verdict(t.final.wrongConnections === 0));
  }
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
    );
    const pairsPerEvent = d.pairs / d.events;
    const modelUsd = apiDestinationCostPerM(pairsPerEvent);
    const S = '4. AWS per event (rate limit off)';
    const pe = u.perEvent;
    add(
      S,
      'SQS requests: producer / event sources / handlers',
      `${f2(pe.producer)} / ${f2(pe.eventSource)} / ${f2(pe.handlersSqs)}`,
      '',
      `API-dest. MODEL: 1 PutEvents entry + ${f2(pairsPerEvent)} invocations`,
    );
    add(S, 'DynamoDB writes / reads', `${f2(pe.dynamoWrites)} / ${f2(pe.dynamoReads)}`);
    add(S, 'Secrets Manager calls', pe.secrets.toFixed(4));
    add(
      S,
      `Lambda GB-s (route ${LAMBDA_MEMORY_GB.route * 1024} MB + apply ${LAMBDA_MEMORY_GB.apply * 1024} MB)`,
      f2(u.gbSecondsPerEvent),
      '',
      `${d.lambda.route.invocations} + ${d.lambda.apply.invocations} invocations`,
    );
    add(
      S,
      `cost per million events (${PRICES.region}, list prices of ${PRICES.asOf})`,
      `${usd(u.costPerM.total)} (SQS ${usd(u.costPerM.sqs)}: producer ${usd(u.split.sqs.producer)}, event sources ${usd(u.split.sqs.eventSource)}, handlers ${usd(u.split.sqs.handlers)}; DynamoDB ${usd(u.costPerM.dynamodb)}: writes ${usd(u.split.dynamodb.writes)}, reads ${usd(u.split.dynamodb.reads)}; Lambda ${usd(u.costPerM.lambda)}: ${Object.entries(
        u.split.lambda,
      )
        .map(([n, v]) => `${n} ${usd(v)}`)
        .join(', ')}; SM ${usd(u.costPerM.secretsManager)}); via an EventBridge bus ${usd(u.totalViaEventBridgePerM)}`,
      '< API-dest. MODEL',
      `API-dest. MODEL ${usd(modelUsd)}`,
      verdict(u.totalViaEventBridgePerM < modelUsd),
    );
  }
  const s = r.seed;
  if (s) {
    const S = '5. seeding and reconcile';
    add(
      S,
      `auth webhook to metadata matching the subject, p50 / p95 (${s.seeded} of ${s.newConnections})`,
      `${f0(s.latencyMs.p50)} / ${f0(s.latencyMs.p95)} ms`,
      `${s.newConnections} of ${s.newConnections}`,
      '',
      verdict(s.seeded === s.newConnections),
    );
    const n = s.reconcile.connections;
    // One call per started page; a last full page needs one more (empty) page to know it was the last.
    const floor = Math.floor(n / 1000) + 1;
    add(
      S,
      'reconcile: Nango calls per 1,000 connections (page size 1,000)',
      `${f2((s.reconcile.calls * 1000) / n)} (${s.reconcile.calls} for ${n}; ${s.reconcile.drifted} drifted)`,
      `1 (${floor} for ${n})`,
      '',
      verdict(s.reconcile.calls <= floor),
    );
  }
  if (d?.reconcile)
    add(
      '5. seeding and reconcile',
      'reconcile after the backlog: drifted connections',
      `${d.reconcile.drifted} of ${d.reconcile.checked} (${d.reconcile.calls} call)`,
      '0',
      '',
      verdict(d.reconcile.drifted === 0),
    );
  const m = r.micro;
  if (m) {
    const S = '6. functions';
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
    const hello = m.coldStart.find((c) => c.name === 'hello');
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
  const lags: [string, { loopLag?: { p50Ms: number; p99Ms: number; maxMs: number } } | undefined][] = [
    ['backlog', r.drain],
    ['rated', r.rated],
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
  for (const b of r.bundles.filter((x) => x.variant === 'deploy')) {
    add(
      '6. functions',
      `bundle as deployed: ${b.name}`,
      kib(b.bytes),
      '',
      `${b.byPackage
        .slice(0, 3)
        .map((p) => `${p.name} ${f0(p.share * 100)}%`)
        .join(', ')}${b.neverRuns.length ? `; never runs: ${kib(b.neverRuns.reduce((n, x) => n + x.bytes, 0))}` : ''}`,
    );
  }
  return out;
}

export function render(r: BenchResults): string {
  const m = r.meta;
  const lines = [
    '# nango-metadata-sync benchmark (version 2)',
    '',
    `${m.date} · commit ${m.commit} · Node ${m.node} · ${m.cpu} (${m.cores} cores, load ${m.loadAverage.map((l) => l.toFixed(1)).join(' ')} at start)${m.wallSeconds ? ` · bench ran ${f0(m.wallSeconds)} s` : ''}`,
    '',
    '| section | measure | ours | target | beside it | |',
    '|---|---|---|---|---|---|',
    ...rows(r).map((x) => `| ${x.section} | ${x.measure} | ${x.ours} | ${x.target} | ${x.beside} | ${x.verdict} |`),
    '',
    `Settings: ${JSON.stringify(r.settings)}`,
  ];
  return lines.join('\n');
}
