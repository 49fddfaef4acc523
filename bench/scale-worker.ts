/**
 * One sweep run in its own process, as a warm sweep function runs it: a tick, then each page the chain
 * asks for, one after another. Started by bench/scale.ts, which keeps the stand-ins (Nango, dynalite)
 * in its own process, so this process's RSS is the walker's alone: its peak is what the largest page
 * invocation needs (an upper bound: a warm container carries what earlier pages left).
 *
 * Input (env SCALE_JOB, JSON): { nangoUrl, dynamoEndpoint, run: 'first' | 'steady' | 'repair' | 'cli', now, tagsOnly? }
 * ('cli': the CLI's reconcile in this one process, the largest "page" being the whole run).; the stand-in's
 * key in SCALE_NANGO_KEY. Output: one JSON line on stdout.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { subjectRules } from '#events/catalog';
import { defaultOf } from '#commons/config';
import { HttpNangoClient } from '#commons/nango/http-client';
import { reconcile } from '#commons/reconcile/run';
import type { OutgoingMessage, QueuePort, SendFailure } from '#commons/queues';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { DynamoMembershipStore } from '#commons/state/membership';
import { runPage, type SweepDeps, type SweepMessage, sweepMessageSchema, tick } from '#commons/sweep/run';

const READS = new Set(['GetItemCommand', 'QueryCommand', 'BatchGetItemCommand']);
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);

export interface WorkerResult {
  pages: number;
  dynamoReads: number;
  dynamoWrites: number;
  /** Reads of a subject's desired state (one strongly consistent Query each). */
  desiredReads: number;
  syncsEnqueued: number;
  largestPageMs: number;
  largestPageHeapMb: number;
  /** The process's peak RSS after its baseline (import, clients) and after every page. */
  baselineRssMb: number;
  peakRssMb: number;
  cpuMs: number;
}

const job = JSON.parse(process.env.SCALE_JOB ?? '{}') as {
  nangoUrl: string;
  dynamoEndpoint: string;
  run: string;
  now: number;
  tagsOnly?: boolean;
};
const client = new DynamoDBClient({
  endpoint: job.dynamoEndpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  maxAttempts: 10,
});
const counts = { reads: 0, writes: 0, desired: 0 };
client.middlewareStack.add(
  (next, context) => async (args) => {
    const name = String(context.commandName);
    if (READS.has(name)) counts.reads++;
    if (WRITES.has(name)) counts.writes++;
    // The walker's only Query is a subject's desired state (the index and membership are Gets).
    if (name === 'QueryCommand') counts.desired++;
    return next(args);
  },
  { step: 'initialize', name: 'countRequests' },
);
const pages: SweepMessage[] = [];
let syncs = 0;
// SQS is counted, not run: the chain is driven here so the measurement is the walker's.
const queues = {
  async sendBatch(_url: string, m: OutgoingMessage[]): Promise<SendFailure[]> {
    syncs += m.length;
    return [];
  },
  async send(_url: string, m: Omit<OutgoingMessage, 'id'>) {
    pages.push(sweepMessageSchema.parse(JSON.parse(m.body)));
  },
} satisfies Pick<QueuePort, 'sendBatch' | 'send'>;
const members = new DynamoMembershipStore(client, 'state');
const state = new DynamoStateStore(client, 'state');
const deps: SweepDeps = {
  nango: new HttpNangoClient({
    host: job.nangoUrl,
    endpoint: 'current',
    keys: staticKeyProvider(process.env.SCALE_NANGO_KEY ?? ''),
    timeoutMs: 60_000,
  }),
  state,
  members,
  runs: members,
  queues,
  syncQueueUrl: 'sync',
  sweepQueueUrl: 'sweep',
  intervalMs: 300_000,
  leaseMs: 900_000,
  ...subjectRules(),
  // A catalog with no connection-id event type: a connection is the subject of its tags alone.
  ...(job.tagsOnly ? { byConnectionId: false } : {}),
};

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
global.gc?.();
const baselineRss = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
let largestPageMs = 0;
let largestHeap = 0;
let n = 0;
if (job.run === 'cli') {
  // The CLI's single process (version 2's reconcile, one invocation for the whole fleet): the baseline.
  const t0 = Date.now();
  const report = await reconcile(
    { ...deps, state, maxConnectionsPerSubject: defaultOf('MAX_CONNECTIONS_PER_SUBJECT') },
    { dryRun: false, deadline: Date.now() + 3_600_000, runId: 'bench' },
  );
  n = report.pages;
  largestPageMs = Date.now() - t0;
} else {
  const t = await tick(deps, { repair: job.run === 'repair', now: job.now });
  if (t.action !== 'started') throw new Error(`tick did not start a run: ${t.action}`);
  for (let m = pages.shift(); m; m = pages.shift()) {
    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    let peak = heap0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
    const t0 = Date.now();
    const out = await runPage(deps, m, Date.now() + 900_000);
    if (out.action === 'skipped') throw new Error(`page ${m.page} skipped`);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    largestPageMs = Math.max(largestPageMs, Date.now() - t0);
    largestHeap = Math.max(largestHeap, peak - heap0);
    n++;
  }
}
const cpu = process.cpuUsage(cpu0);
const result: WorkerResult = {
  pages: n,
  dynamoReads: counts.reads,
  dynamoWrites: counts.writes,
  desiredReads: counts.desired,
  syncsEnqueued: syncs,
  largestPageMs,
  largestPageHeapMb: mb(largestHeap),
  baselineRssMb: mb(baselineRss),
  // maxRSS is in KiB: the process's high-water mark over the run.
  peakRssMb: mb(process.resourceUsage().maxRSS * 1024),
  cpuMs: Math.round((cpu.user + cpu.system) / 1000),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
client.destroy();
