/**
 * Cold start, per-event CPU and peak memory: each measured in fresh `node` processes running the
 * bundles (bench/child.mjs), against stand-ins that live in this process so their CPU and memory are
 * never counted: fauxqs (the queues as deployed), dynalite (the state table), the Secrets Manager
 * stand-in, and the Nango stand-in with zero latency.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { ENV } from '#commons/config';
import { toRecord } from '../local/event-source.ts';
import { startLocalDynamo, type LocalDynamo } from '../local/standins/dynamodb.ts';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../local/standins/sqs.ts';
import { startSecretsManagerStandin, type SecretsManagerStandin } from '../local/standins/secrets-manager.ts';
import { startNangoStandin, type NangoStandin } from '../local/standins/nango.ts';
import { ROOT, type BundleInfo, type EntryName } from './bundles.ts';
import type { BenchEvent, Dataset } from './dataset.ts';

const SECRET_ID = 'nango-metadata-sync/secret-key';
const TABLE = 'nango-metadata-sync-bench';

export interface Standins {
  env: Record<string, string>;
  nango: NangoStandin;
  sqs: LocalSqs;
  queues: PipelineQueues;
  close(): Promise<void>;
}

export async function startStandins(data: Dataset): Promise<Standins> {
  const secretKey = randomUUID();
  let sqs: LocalSqs | undefined;
  let dynamo: LocalDynamo | undefined;
  let sm: SecretsManagerStandin | undefined;
  let nango: NangoStandin | undefined;
  const close = async () => {
    await nango?.close();
    await sm?.close();
    await dynamo?.close();
    await sqs?.close();
  };
  try {
    sqs = await startLocalSqs();
    const queues = await sqs.createPipelineQueues({ ingressVisibilitySeconds: 181, syncVisibilitySeconds: 540 });
    dynamo = await startLocalDynamo();
    await dynamo.createStateTable(TABLE);
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
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
      [ENV.NANGO_HOST]: nango.url,
      [ENV.NANGO_ENDPOINT]: 'current',
      [ENV.NANGO_SECRET_ID]: SECRET_ID,
      [ENV.STATE_TABLE_NAME]: TABLE,
      [ENV.SYNC_QUEUE_URL]: queues.syncUrl,
      [ENV.SYNC_DLQ_URL]: queues.syncDlqUrl,
      [ENV.INGRESS_QUEUE_URL]: queues.ingressUrl,
      [ENV.INGRESS_DLQ_URL]: queues.ingressDlqUrl,
      [ENV.MAX_RECEIVE_COUNT]: '5',
      [ENV.WEBHOOK_SIGNING_KEY]: randomUUID(),
      POWERTOOLS_SERVICE_NAME: 'nango-metadata-sync',
      POWERTOOLS_METRICS_NAMESPACE: 'NangoMetadataSyncBench',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      // The peer and the undici floor read the key from the environment, as the SDK's docs show.
      PEER_KEY: secretKey,
    };
    return { env, nango, sqs, queues, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The environment one bundle runs with: ours take the key from Secrets Manager, the peer from its env. */
export function envFor(name: EntryName, s: Standins): Record<string, string> {
  const { PEER_KEY, ...env } = s.env;
  if (name === 'sdk-consumer' || name === 'floor-undici') return { ...env, NANGO_SECRET_KEY: PEER_KEY!, PEER_MODE: 'sequential' };
  return env;
}

let seq = 0;
export function record(body: string): SQSRecord {
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
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:ingress',
    awsRegion: 'us-east-1',
  };
}

export const sqsEvent = (records: SQSRecord[]): SQSEvent => ({ Records: records });
export const ingressEvent = (events: readonly BenchEvent[]): SQSEvent => sqsEvent(events.map((e) => record(JSON.stringify(e))));

/** Everything route left on the sync queue, as Lambda would hand it to apply. */
export async function harvestSyncs(s: Standins): Promise<SQSRecord[]> {
  const client = s.sqs.client();
  const out: SQSRecord[] = [];
  for (let empty = 0; empty < 3; ) {
    const r = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: s.queues.syncUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 900,
        AttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    const msgs = r.Messages ?? [];
    if (msgs.length === 0) empty++;
    for (const m of msgs) out.push(toRecord(m, 'arn:aws:sqs:us-east-1:000000000000:sync.fifo', 'us-east-1'));
  }
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
  bytes: number;
  runs: number;
  importMs: number;
  invokeMs: number;
  totalMs: number;
}

export async function coldStarts(
  bundles: BundleInfo[],
  first: Partial<Record<EntryName, SQSEvent>>,
  s: Standins,
  runs: number,
  workDir: string,
): Promise<ColdStartRow[]> {
  const results = new Map<BundleInfo, Record<string, number | string>[]>();
  // Interleaved, so drift on a shared machine hits every bundle alike.
  for (let i = 0; i < runs; i++) {
    for (const b of bundles) {
      const event = first[b.name];
      if (!event) throw new Error(`no first event for ${b.name}`);
      const r = await runChild({ mode: 'cold', bundle: b.file, events: [event] }, envFor(b.name, s), workDir);
      results.set(b, [...(results.get(b) ?? []), r]);
    }
  }
  return bundles.map((b) => {
    const rs = results.get(b)!;
    const m = (k: string) => median(rs.map((r) => Number(r[k])));
    return { name: b.name, bytes: b.bytes, runs, importMs: m('importMs'), invokeMs: m('invokeMs'), totalMs: m('totalMs') };
  });
}

export interface CpuRow {
  name: string;
  shape: string;
  invocations: number;
  records: number;
  usPerRecord: number;
  failures: number;
}

export async function cpuRow(
  name: EntryName,
  shape: string,
  job: Omit<ChildJob, 'bundle' | 'mode'>,
  bundle: string,
  s: Standins,
  workDir: string,
): Promise<CpuRow> {
  const r = await runChild({ ...job, mode: 'cpu', bundle }, envFor(name, s), workDir);
  return {
    name,
    shape,
    invocations: Number(r.invocations),
    records: Number(r.records),
    usPerRecord: Number(r.usPerRecord),
    failures: Number(r.failures),
  };
}

export interface MemoryRow {
  name: string;
  batch: number;
  baseRssMiB: number;
  peakRssMiB: number;
  rssDeltaMiB: number;
  heapDeltaMiB: number;
}

export async function memoryRow(name: EntryName, event: SQSEvent, bundle: string, s: Standins, workDir: string): Promise<MemoryRow> {
  const MiB = 1024 * 1024;
  const r = await runChild({ mode: 'memory', bundle, events: [event] }, envFor(name, s), workDir, ['--expose-gc']);
  return {
    name,
    batch: event.Records.length,
    baseRssMiB: Number(r.baseRss) / MiB,
    peakRssMiB: Number(r.peakRss) / MiB,
    rssDeltaMiB: Number(r.rssDelta) / MiB,
    heapDeltaMiB: Number(r.heapDelta) / MiB,
  };
}
