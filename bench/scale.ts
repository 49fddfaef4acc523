/**
 * `npm run bench:scale -- [sizes...]`: the sweep at fleet scale, on the Nango stand-in (20 ms
 * answers, 4 connections per customer) and dynalite, with the production walker (tick, then one
 * page per "invocation", as the page queue chains them). Two runs per size: the first finds every
 * connection new (indexes, membership, one seed each), the second is steady state (nothing changed).
 * Reports wall time, Nango calls, DynamoDB reads and writes, and the largest page's time and heap.
 * SQS is counted, not run: the page chain is driven in process so the measurement is the walker's.
 */
import { randomUUID } from 'node:crypto';
import { subjectRules } from '#events/catalog';
import { HttpNangoClient } from '#commons/nango/http-client';
import type { OutgoingMessage, QueuePort, SendFailure } from '#commons/queues';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { DynamoMembershipStore } from '#commons/state/membership';
import { runPage, type SweepDeps, type SweepMessage, sweepMessageSchema, tick } from '#commons/sweep/run';
import { startLocalDynamo } from '../local/standins/dynamodb.ts';
import { startNangoStandin } from '../local/standins/nango.ts';

const READS = new Set(['GetItemCommand', 'QueryCommand', 'BatchGetItemCommand']);
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);

interface RunFigures {
  run: 'first' | 'steady';
  wallMs: number;
  pages: number;
  nangoCalls: number;
  dynamoReads: number;
  dynamoWrites: number;
  syncsEnqueued: number;
  largestPageMs: number;
  largestPageHeapMb: number;
}

async function measure(size: number): Promise<RunFigures[]> {
  const secretKey = randomUUID();
  const connections = Array.from({ length: size }, (_, i) => ({
    connectionId: `c0000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    providerConfigKey: i % 2 ? 'salesforce' : 'hubspot',
    provider: 'x',
    tags: { organization_id: `org-${Math.floor(i / 4)}` },
  }));
  const nango = await startNangoStandin({ secretKey, connections, latencyMs: 20 });
  const db = await startLocalDynamo();
  await db.createStateTable('state');
  const client = db.client();
  const counts = { reads: 0, writes: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      if (READS.has(name)) counts.reads++;
      if (WRITES.has(name)) counts.writes++;
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  const pages: SweepMessage[] = [];
  let syncs = 0;
  const queues: SweepDeps['queues'] = {
    async sendBatch(_url: string, m: OutgoingMessage[]): Promise<SendFailure[]> {
      syncs += m.length;
      return [];
    },
    async send(_url: string, m: Omit<OutgoingMessage, 'id'>) {
      pages.push(sweepMessageSchema.parse(JSON.parse(m.body)));
    },
  } satisfies Pick<QueuePort, 'sendBatch' | 'send'>;
  const members = new DynamoMembershipStore(client, 'state');
  const deps: SweepDeps = {
    nango: new HttpNangoClient({ host: nango.url, endpoint: 'current', keys: staticKeyProvider(secretKey), timeoutMs: 30_000 }),
    state: new DynamoStateStore(client, 'state'),
    members,
    runs: members,
    queues,
    syncQueueUrl: 'sync',
    sweepQueueUrl: 'sweep',
    intervalMs: 300_000,
    leaseMs: 360_000,
    ...subjectRules(),
  };
  const out: RunFigures[] = [];
  try {
    for (const run of ['first', 'steady'] as const) {
      const before = { ...counts, nango: nango.requests.length };
      syncs = 0;
      const started = Date.now();
      const t = await tick(deps, { repair: false, now: run === 'first' ? Date.now() : Date.now() + 600_000 });
      if (t.action !== 'started') throw new Error(`tick did not start a run: ${t.action}`);
      let largestPageMs = 0;
      let largestHeap = 0;
      let n = 0;
      for (let m = pages.shift(); m; m = pages.shift()) {
        global.gc?.();
        const heap0 = process.memoryUsage().heapUsed;
        let peak = heap0;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
        const t0 = Date.now();
        await runPage(deps, m, Date.now() + 300_000);
        clearInterval(sampler);
        peak = Math.max(peak, process.memoryUsage().heapUsed);
        largestPageMs = Math.max(largestPageMs, Date.now() - t0);
        largestHeap = Math.max(largestHeap, peak - heap0);
        n++;
      }
      out.push({
        run,
        wallMs: Date.now() - started,
        pages: n,
        nangoCalls: nango.requests.length - before.nango,
        dynamoReads: counts.reads - before.reads,
        dynamoWrites: counts.writes - before.writes,
        syncsEnqueued: syncs,
        largestPageMs,
        largestPageHeapMb: Math.round((largestHeap / 2 ** 20) * 10) / 10,
      });
      process.stderr.write(`${size} ${run}: ${JSON.stringify(out.at(-1))}\n`);
    }
  } finally {
    await nango.close();
    await db.close();
  }
  return out;
}

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const results: Record<number, RunFigures[]> = {};
for (const size of sizes.length ? sizes : [10_000, 100_000]) results[size] = await measure(size);
console.log('| connections | run | wall | pages | Nango calls | DynamoDB reads / writes | syncs | largest page: time, heap |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [size, runs] of Object.entries(results)) {
  for (const r of runs) {
    console.log(
      `| ${Number(size).toLocaleString('en')} | ${r.run} | ${(r.wallMs / 1000).toFixed(1)} s | ${r.pages} | ${r.nangoCalls} | ${r.dynamoReads.toLocaleString('en')} / ${r.dynamoWrites.toLocaleString('en')} | ${r.syncsEnqueued.toLocaleString('en')} | ${r.largestPageMs} ms, ${r.largestPageHeapMb} MB |`,
    );
  }
}
