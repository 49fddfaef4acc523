/**
 * `npm run bench:scale -- [sizes...]`: the sweep at fleet scale, on the Nango stand-in (20 ms
 * answers, 4 connections per customer) and dynalite, with the production walker (tick, then one
 * page per "invocation", as the page queue chains them). Three runs per size: the first finds every
 * connection new (indexes, membership, one seed each), the second is steady state (nothing changed),
 * the third is the daily run (steady, with drift repair: desired state read once per subject and page).
 * Each run is walked in its own process (bench/scale-worker.ts) while the stand-ins stay in this one,
 * so the reported peak RSS is the walker's. Reports wall time, Nango calls, DynamoDB reads and writes,
 * desired-state reads, CPU, the largest page's time and heap, and per-page figures with 1,000,000
 * connections extrapolated from them. SQS is counted, not run.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { startLocalDynamo } from '../local/standins/dynamodb.ts';
import { startNangoStandin } from '../local/standins/nango.ts';
import type { WorkerResult } from './scale-worker.ts';

type Run = 'first' | 'steady' | 'repair' | 'cli';
interface RunFigures extends WorkerResult {
  run: Run;
  wallMs: number;
  nangoCalls: number;
}

/** One run in a fresh process (the walker's memory alone); the stand-ins stay here and count Nango's calls. */
function runWorker(
  job: { nangoUrl: string; dynamoEndpoint: string; run: Run; now: number; tagsOnly: boolean },
  key: string,
): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', new URL('./scale-worker.ts', import.meta.url).pathname], {
      env: { ...process.env, SCALE_JOB: JSON.stringify(job), SCALE_NANGO_KEY: key },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`scale worker exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as WorkerResult);
    });
  });
}

async function measure(size: number, tagsOnly: boolean, withCli: boolean): Promise<RunFigures[]> {
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
  const out: RunFigures[] = [];
  try {
    // Each run starts past the last one's interval, so its tick starts a new run.
    let now = Date.now();
    for (const run of withCli ? (['first', 'steady', 'repair', 'cli'] as const) : (['first', 'steady', 'repair'] as const)) {
      const calls = nango.requests.length;
      const started = Date.now();
      const w = await runWorker({ nangoUrl: nango.url, dynamoEndpoint: db.endpoint, run, now, tagsOnly }, secretKey);
      out.push({ run, ...w, wallMs: Date.now() - started, nangoCalls: nango.requests.length - calls });
      process.stderr.write(
        `${size} ${run}: ${JSON.stringify(out.at(-1))} load ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')}\n`,
      );
      now += 600_000 + (Date.now() - started);
    }
  } finally {
    await nango.close();
    await db.close();
  }
  return out;
}

// --tags-only: the catalog has no connection-id event type (the sample's has one: every connection is
// then also the subject of its own id, one more index entry and, in the daily run, one more desired read).
const tagsOnly = process.argv.includes('--tags-only');
// --cli: a fourth run, the CLI's reconcile in one process (what one invocation did before the sweep).
const withCli = process.argv.includes('--cli');
const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const results: Record<number, RunFigures[]> = {};
for (const size of sizes.length ? sizes : [10_000, 100_000]) results[size] = await measure(size, tagsOnly, withCli);
const per = (n: number, r: RunFigures) => n / r.pages;
const f1 = (n: number) => n.toLocaleString('en', { maximumFractionDigits: 1 });
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${cpus().length} cores`,
);
/** A Markdown table on stdout, one row per run of each size. */
function printTable(headers: string[], cells: (size: number, r: RunFigures) => string[]): void {
  console.log(`| ${headers.join(' | ')} |`);
  console.log(`|${headers.map(() => '---').join('|')}|`);
  for (const [size, runs] of Object.entries(results)) for (const r of runs) console.log(`| ${cells(Number(size), r).join(' | ')} |`);
}
const n = (x: number) => x.toLocaleString('en');
printTable(
  [
    'connections',
    'run',
    'wall',
    'pages',
    'Nango calls',
    'DynamoDB reads / writes',
    'desired-state reads',
    'syncs',
    'CPU',
    'largest page: time, heap',
    'walker peak RSS (baseline)',
  ],
  (size, r) => [
    n(size),
    r.run,
    `${(r.wallMs / 1000).toFixed(1)} s`,
    String(r.pages),
    String(r.nangoCalls),
    `${n(r.dynamoReads)} / ${n(r.dynamoWrites)}`,
    n(r.desiredReads),
    n(r.syncsEnqueued),
    `${(r.cpuMs / 1000).toFixed(1)} s`,
    `${(r.largestPageMs / 1000).toFixed(1)} s, ${r.largestPageHeapMb} MB`,
    `${r.peakRssMb} MB (${r.baselineRssMb} MB)`,
  ],
);
console.log('\nPer page (the unit one invocation does), and 1,000,000 connections (1,001 pages) from it:');
printTable(
  ['connections', 'run', 'wall / page', 'Nango calls / page', 'reads / writes per page', 'CPU / page', '1,000,000: wall, reads / writes'],
  (size, r) => [
    n(size),
    r.run,
    `${f1(per(r.wallMs, r) / 1000)} s`,
    f1(per(r.nangoCalls, r)),
    `${f1(per(r.dynamoReads, r))} / ${f1(per(r.dynamoWrites, r))}`,
    `${f1(per(r.cpuMs, r))} ms`,
    `${f1((per(r.wallMs, r) * 1001) / 60_000)} min, ${n(Math.round(per(r.dynamoReads, r) * 1001))} / ${n(Math.round(per(r.dynamoWrites, r) * 1001))}`,
  ],
);
