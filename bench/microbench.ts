/**
 * Cold start, per-event CPU and peak memory: each measured in fresh `node` processes running the
 * bundles (bench/child.mjs), against stand-ins that live in this process so their CPU and memory
 * are never counted: fauxqs (the four queues as deployed), the Secrets Manager stand-in, and the
 * Nango stand-in with zero latency.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { connectionKey as groupOf, deduplicationId, type PatchMessage } from '#commons/patch-message';
import { startLocalSqs, type LocalSqs } from '../local/standins/sqs.ts';
import { startSecretsManagerStandin, type SecretsManagerStandin } from '../local/standins/secrets-manager.ts';
import { startNangoStandin, type NangoStandin } from '../local/standins/nango.ts';
import { ROOT, type BundleInfo, type EntryName } from './bundles.ts';
import { integrationsIndex, makeDataset, targetsOf, type BenchEvent, type Dataset } from './dataset.ts';

const SECRET_ID = 'nango-metadata-sync/secret-key';

export interface Standins {
  env: Record<string, string>;
  nango: NangoStandin;
  close(): Promise<void>;
}

export async function startStandins(data: Dataset): Promise<Standins> {
  const secretKey = randomUUID();
  let sqs: LocalSqs | undefined;
  let sm: SecretsManagerStandin | undefined;
  let nango: NangoStandin | undefined;
  const close = async () => {
    await nango?.close();
    await sm?.close();
    await sqs?.close();
  };
  try {
    sqs = await startLocalSqs();
    const q = await sqs.createPipelineQueues({ ingressVisibilitySeconds: 181, patchesVisibilitySeconds: 360 });
    sm = await startSecretsManagerStandin({ secrets: { [SECRET_ID]: secretKey } });
    nango = await startNangoStandin({ secretKey, connections: data.connections, latencyMs: 0 });
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
      NANGO_HOST: nango.url,
      NANGO_ENDPOINT: 'current',
      NANGO_SECRET_ID: SECRET_ID,
      PATCHES_QUEUE_URL: q.patchesUrl,
      INGRESS_DLQ_URL: q.ingressDlqUrl,
      PATCHES_DLQ_URL: q.patchesDlqUrl,
      MAX_RECEIVE_COUNT: '5',
      ORDERING: 'event-time',
      APPLY_GROUP_CONCURRENCY: '8',
      POWERTOOLS_SERVICE_NAME: 'nango-metadata-sync',
      POWERTOOLS_METRICS_NAMESPACE: 'NangoMetadataSyncBench',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      // The peer reads its key from the environment, as the SDK's docs show.
      NANGO_SECRET_KEY_FOR_PEER: secretKey,
    };
    return { env, nango, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The environment one bundle runs with: ours take the key from Secrets Manager, the peer from its env. */
export function envFor(name: EntryName, s: Standins): Record<string, string> {
  const { NANGO_SECRET_KEY_FOR_PEER, ...env } = s.env;
  if (name === 'sdk-consumer' || name === 'floor-undici')
    return { ...env, NANGO_SECRET_KEY: NANGO_SECRET_KEY_FOR_PEER!, PEER_MODE: 'sequential' };
  return env;
}

let seq = 0;
function record(body: string, groupId?: string): SQSRecord {
  const n = ++seq;
  return {
    messageId: randomUUID(),
    receiptHandle: `bench-${n}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: '000000000000',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
      ...(groupId ? { MessageGroupId: groupId, SequenceNumber: String(n).padStart(20, '0'), MessageDeduplicationId: `d${n}` } : {}),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${groupId ? 'patches.fifo' : 'ingress'}`,
    awsRegion: 'us-east-1',
  };
}

export const sqsEvent = (records: SQSRecord[]): SQSEvent => ({ Records: records });
export const ingressRecords = (events: readonly BenchEvent[]): SQSRecord[] => events.map((e) => record(JSON.stringify(e)));

/** Patch messages for the events, as route would enqueue them, grouped per connection in order. */
export function patchGroups(data: Dataset, events: readonly BenchEvent[]): Map<string, SQSRecord[]> {
  const integrationsOf = integrationsIndex(data.connections);
  const groups = new Map<string, SQSRecord[]>();
  for (const e of events) {
    for (const t of targetsOf(e, integrationsOf)) {
      const target = { connectionId: t.connectionId, providerConfigKey: t.providerConfigKey };
      const m: PatchMessage = {
        v: 1,
        target,
        patch: t.patch,
        event: { id: e.id, source: e.source, detailType: e['detail-type'], time: e.time },
      };
      const g = groupOf(target);
      const r = record(JSON.stringify(m), g);
      r.attributes.MessageDeduplicationId = deduplicationId(e.id, target);
      groups.set(g, [...(groups.get(g) ?? []), r]);
    }
  }
  return groups;
}

/** Apply batches: `perGroup` messages of one connection each, or one message from each of ten connections. */
export function applyBatches(
  data: Dataset,
  events: readonly BenchEvent[],
  shape: 'one-connection' | 'ten-connections',
  count: number,
): SQSEvent[] {
  const groups = [...patchGroups(data, events).values()];
  const out: SQSEvent[] = [];
  if (shape === 'one-connection') {
    for (const g of groups) for (let i = 0; i + 10 <= g.length && out.length < count; i += 10) out.push(sqsEvent(g.slice(i, i + 10)));
  } else {
    // Round r takes the r-th message of every connection that has one, ten connections per batch.
    for (let round = 0; out.length < count; round++) {
      const column = groups.filter((g) => g.length > round).map((g) => g[round]!);
      if (column.length < 10) break;
      for (let i = 0; i + 10 <= column.length && out.length < count; i += 10) out.push(sqsEvent(column.slice(i, i + 10)));
    }
  }
  if (out.length < count) throw new Error(`dataset too small for ${count} apply batches of ${shape}`);
  return out;
}

export interface ChildJob {
  mode: 'cold' | 'cpu' | 'memory';
  bundle: string;
  warmup?: SQSEvent;
  events: SQSEvent[];
  /** cpu mode: write a CPU profile of the measured calls here. */
  profileOut?: string;
}

let jobs = 0;
export async function runChild(
  job: ChildJob,
  env: Record<string, string>,
  workDir: string,
  nodeArgs: string[] = [],
): Promise<Record<string, number | string>> {
  mkdirSync(workDir, { recursive: true });
  const n = ++jobs;
  const jobFile = join(workDir, `job-${n}.json`);
  const out = join(workDir, `job-${n}.out.json`);
  writeFileSync(jobFile, JSON.stringify({ ...job, out }));
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bench', 'child.mjs'), jobFile], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: workDir,
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`child ${job.mode} ${job.bundle} exited ${code}: ${stderr.slice(-2000)}`);
  const result = JSON.parse(readFileSync(out, 'utf8')) as Record<string, number | string>;
  // The job files hold whole batches of events: megabytes each, of no use once read.
  rmSync(jobFile, { force: true });
  rmSync(out, { force: true });
  return result;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export interface ColdStartRow {
  name: string;
  variant: string;
  bytes: number;
  runs: number;
  bootMs: number;
  importMs: number;
  invokeMs: number;
  totalMs: number;
  requestsPerInvocation: number;
}

/** The first event each bundle serves: one realistic record. */
export function firstEvents(data: Dataset): Partial<Record<EntryName, SQSEvent>> {
  const seats = data.events.find((e) => e['detail-type'] === 'customer.seats_changed')!;
  const patch = [...patchGroups(data, [seats]).values()][0]!;
  return {
    route: sqsEvent(ingressRecords([seats])),
    apply: sqsEvent(patch.slice(0, 1)),
    hello: sqsEvent(ingressRecords([seats])),
    'sdk-consumer': sqsEvent(ingressRecords([seats])),
  };
}

export async function coldStarts(
  bundles: BundleInfo[],
  s: Standins,
  data: Dataset,
  runs: number,
  workDir: string,
): Promise<ColdStartRow[]> {
  const first = firstEvents(data);
  const results = new Map<BundleInfo, Record<string, number | string>[]>();
  const requests = new Map<BundleInfo, number[]>();
  // Interleaved, so drift on a shared machine hits every bundle alike.
  for (let i = 0; i < runs; i++) {
    for (const b of bundles) {
      const before = s.nango.requests.length;
      const event = first[b.name];
      if (!event) throw new Error(`no first event for ${b.name}`);
      const r = await runChild({ mode: 'cold', bundle: b.file, events: [event] }, envFor(b.name, s), workDir);
      if (Number(r.failures)) throw new Error(`${b.name}: first invocation reported failures`);
      results.set(b, [...(results.get(b) ?? []), r]);
      requests.set(b, [...(requests.get(b) ?? []), s.nango.requests.length - before]);
    }
  }
  return bundles.map((b) => {
    const rs = results.get(b)!;
    const m = (k: string) => median(rs.map((r) => Number(r[k])));
    return {
      name: b.name,
      variant: b.variant,
      bytes: b.bytes,
      runs,
      bootMs: m('bootMs'),
      importMs: m('importMs'),
      invokeMs: m('invokeMs'),
      totalMs: m('totalMs'),
      requestsPerInvocation: median(requests.get(b)!),
    };
  });
}

export interface CpuRow {
  name: string;
  shape: string;
  invocations: number;
  records: number;
  usPerRecord: number;
}

export type CpuJobName = 'route' | 'apply' | 'sdk-consumer' | 'floor-undici' | 'floor-sqs';

export interface CpuJob {
  name: CpuJobName;
  shape: string;
  job: Omit<ChildJob, 'bundle'>;
}

/** Route: warm (targets cache filled for every customer), then batches of the deployed size and of 10. Apply: two batch shapes. */
export function cpuJobs(data: Dataset): CpuJob[] {
  const jobs: CpuJob[] = [];
  const seen = new Set<string>();
  const warm = data.events.filter((e) => {
    const c = (e.detail as { customerId: string }).customerId;
    return seen.has(c) ? false : (seen.add(c), true);
  });
  for (const size of [50, 10]) {
    const batches: SQSEvent[] = [];
    for (let i = 0; i + size <= 1000; i += size) batches.push(sqsEvent(ingressRecords(data.events.slice(i, i + size))));
    jobs.push({
      name: 'route',
      shape: `batch of ${size} events`,
      job: { mode: 'cpu', warmup: sqsEvent(ingressRecords(warm)), events: batches },
    });
  }
  for (const shape of ['one-connection', 'ten-connections'] as const) {
    const batches = applyBatches(data, data.events, shape, 101);
    jobs.push({
      name: 'apply',
      shape: shape === 'one-connection' ? 'batch of 10 messages, 1 connection' : 'batch of 10 messages, 10 connections',
      job: { mode: 'cpu', warmup: batches[0]!, events: batches.slice(1) },
    });
  }
  // The peer, for scale: one SDK updateMetadata per target connection, in order.
  const peerBatches: SQSEvent[] = [];
  for (let i = 0; i + 10 <= 1000; i += 10) peerBatches.push(sqsEvent(ingressRecords(data.events.slice(i, i + 10))));
  jobs.push({
    name: 'sdk-consumer',
    shape: 'batch of 10 events (sequential)',
    job: { mode: 'cpu', warmup: sqsEvent(ingressRecords(warm)), events: peerBatches },
  });
  // Floors: what one request costs through the same libraries, with nothing around it.
  const gets: SQSEvent[] = [];
  for (let i = 0; i < 100; i++) {
    gets.push(
      sqsEvent(
        data.connections
          .slice((i * 10) % (data.connections.length - 10), ((i * 10) % (data.connections.length - 10)) + 10)
          .map((c) => record(JSON.stringify({ connectionId: c.connectionId, providerConfigKey: c.providerConfigKey }))),
      ),
    );
  }
  jobs.push({
    name: 'floor-undici',
    shape: 'one GET per record (undici Agent alone)',
    job: { mode: 'cpu', warmup: gets[0]!, events: gets.slice(1) },
  });
  const bodies = [...patchGroups(data, data.events.slice(0, 200)).values()].flat().map((r) => r.body);
  const sends: SQSEvent[] = [];
  for (let i = 0; i < 30; i++)
    sends.push(
      sqsEvent(
        Array.from({ length: 10 }, (_, j) =>
          record(JSON.stringify(bodies.slice(((i * 10 + j) * 10) % 300, (((i * 10 + j) * 10) % 300) + 10))),
        ),
      ),
    );
  jobs.push({
    name: 'floor-sqs',
    shape: 'one SendMessageBatch of 10 per record (AWS SDK alone)',
    job: { mode: 'cpu', warmup: sends[0]!, events: sends.slice(1) },
  });
  return jobs;
}

export async function cpuCosts(bundles: Record<CpuJobName, string>, s: Standins, data: Dataset, workDir: string): Promise<CpuRow[]> {
  const rows: CpuRow[] = [];
  for (const j of cpuJobs(data)) {
    const r = await runChild({ ...j.job, bundle: bundles[j.name] }, envFor(j.name, s), workDir);
    if (Number(r.failures)) throw new Error(`${j.name} cpu run (${j.shape}) reported failures`);
    rows.push({
      name: j.name,
      shape: j.shape,
      invocations: Number(r.invocations),
      records: Number(r.records),
      usPerRecord: Number(r.usPerRecord),
    });
  }
  return rows;
}

export interface MemoryRow {
  name: string;
  batch: number;
  baseRssMiB: number;
  peakRssMiB: number;
  rssDeltaMiB: number;
  heapDeltaMiB: number;
}

export async function memoryPeaks(
  bundles: Record<'route' | 'apply', string>,
  s: Standins,
  data: Dataset,
  workDir: string,
): Promise<MemoryRow[]> {
  const MiB = 1024 * 1024;
  const rows: MemoryRow[] = [];
  const jobsToRun: { name: 'route' | 'apply'; event: SQSEvent }[] = [
    ...[10, 100, 1000].map((n) => ({ name: 'route' as const, event: sqsEvent(ingressRecords(data.events.slice(0, n))) })),
    { name: 'apply', event: applyBatches(data, data.events, 'ten-connections', 1)[0]! },
  ];
  for (const j of jobsToRun) {
    const r = await runChild({ mode: 'memory', bundle: bundles[j.name], events: [j.event] }, envFor(j.name, s), workDir, ['--expose-gc']);
    if (Number(r.failures)) throw new Error(`${j.name} memory run reported failures`);
    rows.push({
      name: j.name,
      batch: j.event.Records.length,
      baseRssMiB: Number(r.baseRss) / MiB,
      peakRssMiB: Number(r.peakRss) / MiB,
      rssDeltaMiB: Number(r.rssDelta) / MiB,
      heapDeltaMiB: Number(r.heapDelta) / MiB,
    });
  }
  return rows;
}

export { makeDataset };
