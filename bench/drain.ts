/**
 * One drain scenario, in its own process (the handlers keep their first configuration, as a warm
 * Lambda does): a backlog of events through either our route + apply (the local pipeline) or the
 * SDK peer (the same local event source on the same kind of queue), against the Nango stand-in.
 *
 * Usage: tsx bench/drain.ts '<scenario JSON>' <result file>
 * Wall time runs from the first event sent to the last Nango request answered.
 */
import { writeFileSync } from 'node:fs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { startLocalPipeline } from '../local/pipeline.ts';
import { startEventSource, waitUntilDrained, queueCounts, type EventSourceStats } from '../local/event-source.ts';
import { startLocalSqs } from '../local/standins/sqs.ts';
import { startNangoStandin, type NangoStandin, type RecordedRequest } from '../local/standins/nango.ts';
import {
  checkFinalState,
  connectionKey,
  eventTimeFold,
  integrationsIndex,
  makeDataset,
  patchCount,
  sdkCalls,
  targetsOf,
  type DatasetOptions,
} from './dataset.ts';
import { createSdkConsumer } from './peers/sdk-consumer.ts';

export interface DrainScenario {
  name: string;
  system: 'ours' | 'sdk-sequential' | 'sdk-parallel';
  ordering?: 'event-time' | 'arrival';
  dataset: Partial<DatasetOptions>;
  /** Use only the first n events of the backlog (arrival order). */
  eventLimit?: number;
  latencyMs: number;
  rateLimit?: { limit: number; windowMs: number } | undefined;
  raceMode: boolean;
  raceDelayMs: number;
  timeoutMs: number;
  /** The deployed event source settings (CDK defaults) unless overridden. */
  route?: { batchSize: number; maxBatchingWindowMs: number; concurrency: number; functionTimeoutMs: number };
  apply?: { batchSize: number; concurrency: number; functionTimeoutMs: number; groupConcurrency: number };
  peer?: { batchSize: number; concurrency: number; functionTimeoutMs: number };
  /**
   * NANGO_RATE_LIMIT_WINDOW_MS for the handlers: the stand-in's (scaled) window length, so the gate
   * resumes at each window's true end rather than the rounded-up X-RateLimit-Reset.
   */
  gateWindowMs?: number;
  /** Diagnostics: write every Nango request (method, kind, status, start, end) here as JSON lines. */
  requestsLog?: string;
}

export interface DrainResult {
  scenario: DrainScenario;
  events: number;
  patches: number;
  connections: number;
  wallMs: number;
  sendMs: number;
  eventsPerSecond: number;
  calls: { total: number; list: number; get: number; patch: number; other: number };
  callsPerEvent: number;
  rateLimited: number;
  dlq: number;
  /** calls / (limit / window): the least time those calls take at the rate limit. */
  boundMs?: number;
  wallOverBound?: number;
  finalState: { connections: number; wrongConnections: number; wrongKeys: number };
  overlaps: number;
  stages: Record<string, EventSourceStats>;
  /**
   * A sample (eventLimit) of a sequential consumer projected to the whole backlog: its time is
   * linear in its calls, and the sample carries more than its share of the cached list calls.
   */
  projected?: { events: number; calls: number; wallMs: number; eventsPerSecond: number };
  /**
   * Rated runs: the stand-in's fixed windows rebuilt from when each request reached it (a window
   * opens with the first request after the previous one ended), and how long the account sat idle
   * between a window's end and the next request.
   */
  windows?: { count: number; meanIdleAfterEndMs: number; maxIdleAfterEndMs: number };
  /** Handler time per invocation of the Nango-facing stage (apply, or the peer), ms. */
  invocationMs: { count: number; mean: number; p50: number; p95: number };
}

export const ROUTE_DEPLOYED = { batchSize: 50, maxBatchingWindowMs: 1000, concurrency: 10, functionTimeoutMs: 30_000 };
export const APPLY_DEPLOYED = { batchSize: 10, concurrency: 2, functionTimeoutMs: 90_000, groupConcurrency: 8 };
export const PEER_DEFAULT = { batchSize: 10, concurrency: 2, functionTimeoutMs: 60_000 };

function classify(requests: readonly RecordedRequest[]) {
  const calls = { total: 0, list: 0, get: 0, patch: 0, other: 0 };
  for (const r of requests) {
    calls.total++;
    if (r.method === 'GET' && r.path === '/connections') calls.list++;
    else if (r.method === 'GET') calls.get++;
    else if (r.method === 'PATCH') calls.patch++;
    else calls.other++;
  }
  return calls;
}

function summarize(xs: number[]): DrainResult['invocationMs'] {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { count: s.length, mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), p50: at(0.5), p95: at(0.95) };
}

function rebuildWindows(requests: readonly RecordedRequest[], windowMs: number): DrainResult['windows'] {
  const starts = requests.map((r) => r.startedAt).sort((a, b) => a - b);
  const opened: number[] = [];
  for (const t of starts) if (opened.length === 0 || t >= opened[opened.length - 1]! + windowMs) opened.push(t);
  const idle = opened.slice(1).map((t, i) => t - (opened[i]! + windowMs));
  return {
    count: opened.length,
    meanIdleAfterEndMs: idle.length ? idle.reduce((a, b) => a + b, 0) / idle.length : 0,
    maxIdleAfterEndMs: idle.length ? Math.max(...idle) : 0,
  };
}

function project(
  sampleCalls: number,
  sampleWallMs: number,
  connections: Parameters<typeof sdkCalls>[0],
  all: Parameters<typeof sdkCalls>[1],
): DrainResult['projected'] {
  const calls = sdkCalls(connections, all);
  const wallMs = (calls * sampleWallMs) / sampleCalls;
  return { events: all.length, calls, wallMs, eventsPerSecond: all.length / (wallMs / 1000) };
}

export async function runDrain(s: DrainScenario): Promise<DrainResult> {
  const data = makeDataset(s.dataset);
  const events = s.eventLimit ? data.events.slice(0, s.eventLimit) : data.events;
  const integrationsOf = integrationsIndex(data.connections);
  const touched = new Set(
    events.flatMap((e) => targetsOf(e, integrationsOf).map((t) => connectionKey(t.connectionId, t.providerConfigKey))),
  );
  const checked = data.connections.filter((c) => touched.has(connectionKey(c.connectionId, c.providerConfigKey)));
  const expected = eventTimeFold(data.connections, events);
  const nangoOptions = {
    latencyMs: s.latencyMs,
    raceMode: s.raceMode,
    raceDelayMs: s.raceDelayMs,
    ...(s.rateLimit ? { rateLimit: s.rateLimit } : {}),
  };

  let nango: NangoStandin;
  let stop: () => Promise<void>;
  let send: (evs: readonly unknown[]) => Promise<unknown>;
  let drain: () => Promise<unknown>;
  let dlqCount: () => Promise<number>;
  let stages: () => Record<string, EventSourceStats>;
  const durations: number[] = [];
  const onInvocation = (r: { durationMs: number }) => void durations.push(r.durationMs);

  if (s.system === 'ours') {
    const route = s.route ?? ROUTE_DEPLOYED;
    const apply = s.apply ?? APPLY_DEPLOYED;
    const p = await startLocalPipeline({
      nango: nangoOptions,
      connections: data.connections,
      route: { ...route },
      apply: {
        batchSize: apply.batchSize,
        concurrency: apply.concurrency,
        functionTimeoutMs: apply.functionTimeoutMs,
        maxBatchingWindowMs: 0,
        onInvocation,
      },
      env: {
        ORDERING: s.ordering ?? 'event-time',
        APPLY_GROUP_CONCURRENCY: String(apply.groupConcurrency),
        POWERTOOLS_LOG_LEVEL: 'INFO',
        // Unset: the default 60 s, longer than the stand-in's scaled window, so the gate falls back to X-RateLimit-Reset.
        ...(s.gateWindowMs ? { NANGO_RATE_LIMIT_WINDOW_MS: String(s.gateWindowMs) } : {}),
      },
    });
    nango = p.nango!;
    stop = () => p.stop();
    send = (evs) => p.send(evs);
    drain = () => p.drain({ timeoutMs: s.timeoutMs, quietMs: 500 });
    dlqCount = async () => (await p.dlq()).length;
    stages = () => ({ route: p.route.stats(), apply: p.apply.stats() });
  } else {
    const peer = s.peer ?? PEER_DEFAULT;
    const secretKey = crypto.randomUUID();
    const sqsLocal = await startLocalSqs();
    const queues = await sqsLocal.createPipelineQueues({ ingressVisibilitySeconds: Math.ceil(peer.functionTimeoutMs / 1000) });
    nango = await startNangoStandin({ ...nangoOptions, secretKey, connections: data.connections });
    process.env.NANGO_HOST = nango.url;
    process.env.NANGO_SECRET_KEY = secretKey;
    const consumer = createSdkConsumer(s.system === 'sdk-parallel' ? 'parallel' : 'sequential');
    const sqs = sqsLocal.client();
    const source = await startEventSource({
      sqs,
      queueUrl: queues.ingressUrl,
      handler: (e: SQSEvent, _c: Context): Promise<SQSBatchResponse> => consumer(e),
      functionName: `peer-${s.system}`,
      batchSize: peer.batchSize,
      concurrency: peer.concurrency,
      functionTimeoutMs: peer.functionTimeoutMs,
      onInvocation,
    });
    const { SendMessageBatchCommand } = await import('@aws-sdk/client-sqs');
    send = async (evs) => {
      for (let i = 0; i < evs.length; i += 10) {
        const chunk = evs.slice(i, i + 10);
        const r = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queues.ingressUrl,
            Entries: chunk.map((e, j) => ({ Id: String(j), MessageBody: JSON.stringify(e) })),
          }),
        );
        if (r.Failed?.length) throw new Error(`ingress refused ${r.Failed.length} events`);
      }
    };
    drain = () => waitUntilDrained(sqs, [queues.ingressUrl], { timeoutMs: s.timeoutMs, quietMs: 500 });
    dlqCount = async () => {
      const c = await queueCounts(sqs, queues.ingressDlqUrl);
      return c.visible + c.inFlight + c.delayed;
    };
    stages = () => ({ peer: source.stats() });
    stop = async () => {
      await source.stop();
      await nango.close();
      await sqsLocal.close();
    };
  }

  try {
    const t0 = Date.now();
    await send(events);
    const sendMs = Date.now() - t0;
    await drain();
    const lastAnswer = Math.max(t0, ...nango.requests.map((r) => r.endedAt ?? 0));
    const wallMs = lastAnswer - t0;
    const calls = classify(nango.requests);
    if (s.requestsLog) {
      const kind = (r: RecordedRequest) => (r.method === 'GET' ? (r.path === '/connections' ? 'list' : 'get') : r.method.toLowerCase());
      writeFileSync(
        s.requestsLog,
        nango.requests
          .map((r) => JSON.stringify({ n: r.n, kind: kind(r), status: r.status, start: r.startedAt - t0, end: (r.endedAt ?? 0) - t0 }))
          .join('\n'),
      );
    }
    const stats = nango.stats();
    const boundMs = s.rateLimit ? (calls.total * s.rateLimit.windowMs) / s.rateLimit.limit : undefined;
    return {
      scenario: s,
      events: events.length,
      patches: patchCount(data.connections, events),
      connections: checked.length,
      wallMs,
      sendMs,
      eventsPerSecond: events.length / (wallMs / 1000),
      calls,
      callsPerEvent: calls.total / events.length,
      rateLimited: stats.rateLimited,
      dlq: await dlqCount(),
      ...(boundMs !== undefined
        ? { boundMs, wallOverBound: wallMs / boundMs, windows: rebuildWindows(nango.requests, s.rateLimit!.windowMs) }
        : {}),
      finalState: checkFinalState(expected, (id, k) => nango.metadataOf(id, k), checked),
      overlaps: stats.overlaps,
      stages: stages(),
      invocationMs: summarize(durations),
      ...(s.eventLimit && s.system !== 'ours' ? { projected: project(calls.total, wallMs, data.connections, data.events) } : {}),
    };
  } finally {
    await stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const scenario = JSON.parse(process.argv[2] ?? '{}') as DrainScenario;
  const out = process.argv[3];
  if (!out) throw new Error('usage: tsx bench/drain.ts <scenario JSON> <result file>');
  runDrain(scenario).then(
    (r) => {
      writeFileSync(out, JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (e: unknown) => {
      process.stderr.write(`drain ${scenario.name} failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
