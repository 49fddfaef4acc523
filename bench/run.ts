/**
 * `npm run bench`: every row of the table measured in one run, then the targets of issue 6.
 *
 *   1. bundles (as deployed, as run here, and the what-if variant), with esbuild metafile analysis;
 *   2. cold start, per-event CPU (profiled) and peak memory, in fresh node processes, against
 *      stand-ins hosted by this process;
 *   3. the drains, each in its own process (tsx): rate limit off, one after another; rate limit on,
 *      side by side (they wait on the window, not the CPU).
 *
 * Writes bench/results/<stamp>/results.json and report.md, and bench/results/latest.{json,md}.
 * Options: --quick (small backlog, fewer cold starts; a smoke run), --skip-drain, --skip-micro.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { bundleAll, MEASURED_ENTRIES, ROOT, type BundleInfo, type EntryName } from './bundles.ts';
import { DEFAULT_DATASET, makeDataset, type DatasetOptions } from './dataset.ts';
import { APPLY_DEPLOYED, type DrainResult, type DrainScenario } from './drain.ts';
import { coldStarts, cpuCosts, cpuJobs, envFor, firstEvents, memoryPeaks, startStandins } from './microbench.ts';
import { profileColdStart, profileJob } from './profile.ts';
import { evaluate, render, type BenchResults } from './report.ts';
import { helpText, parseCommandLine, UsageError, type OptionTable } from '../cli/args.ts';

const OPTIONS = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  quick: { type: 'boolean', description: 'small backlog and fewer cold starts: a one-minute smoke run' },
  'skip-drain': { type: 'boolean', description: 'skip the drains (bundles, cold start, CPU and memory only)' },
  'skip-micro': { type: 'boolean', description: 'skip cold start, CPU and memory (drains only)' },
} satisfies OptionTable;

let parsed: ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values'];
try {
  parsed = parseCommandLine(process.argv.slice(2), OPTIONS, { positionals: false }).values;
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  process.stderr.write(`npm run bench: ${e.message}\nRun "npm run bench -- --help" for usage.\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(
    helpText({
      usage: 'npm run bench -- [options]',
      description:
        'Measures, in one run: the drain of a 5,000-event backlog through route and apply against the Nango\n' +
        'stand-in (rate limit off and on) beside the official SDK consumer; per-event CPU; peak memory; cold\n' +
        'start and bundle sizes. Prints one table and the targets as PASS/MISS; writes bench/results/.',
      options: OPTIONS,
    }),
  );
  process.exit(0);
}
const args = new Set(
  Object.entries(parsed)
    .filter(([, v]) => v)
    .map(([k]) => `--${k}`),
);
const quick = args.has('--quick');

/** The Nango stand-in for every drain: fixed latency, and race mode (the real server loses concurrent updates). */
const NANGO = { latencyMs: 20, raceMode: true, raceDelayMs: 5 };
const MAIN: Partial<DatasetOptions> = quick ? { events: 600, customers: 30 } : { ...DEFAULT_DATASET };
/** Rate-limited runs: fewer events so the run stays short at a rate that binds (30 calls/s). */
const RATED: Partial<DatasetOptions> = quick ? { events: 300, customers: 15 } : { events: 1500, customers: 60 };
const SEQUENTIAL_EVENTS = quick ? 200 : 1000;

export function scenarios(): { off: DrainScenario[]; on: DrainScenario[] } {
  const base = { ...NANGO, timeoutMs: 300_000 };
  const off: DrainScenario[] = [
    { ...base, name: 'ours, event-time, construct defaults (apply x2)', system: 'ours', ordering: 'event-time', dataset: MAIN },
    // The setting for an account whose rate limit does not bind: apply's event source at 5 concurrent invocations.
    {
      ...base,
      name: 'ours, event-time, applyMaxConcurrency=5',
      system: 'ours',
      ordering: 'event-time',
      dataset: MAIN,
      apply: { ...APPLY_DEPLOYED, concurrency: 5 },
    },
    { ...base, name: 'ours, arrival', system: 'ours', ordering: 'arrival', dataset: MAIN },
    { ...base, name: 'SDK, parallel', system: 'sdk-parallel', dataset: MAIN },
    // Sequential calls at 20+ ms each: measured on the first events of the same backlog to keep the run short.
    {
      ...base,
      name: `SDK, sequential (first ${SEQUENTIAL_EVENTS})`,
      system: 'sdk-sequential',
      dataset: MAIN,
      eventLimit: SEQUENTIAL_EVENTS,
    },
  ];
  // The stand-in's windows are scaled down; NANGO_RATE_LIMIT_WINDOW_MS tells the gate so (a deployment's default is Nango's 60 s).
  const on: DrainScenario[] = [
    {
      ...base,
      name: 'ours, event-time, rated',
      system: 'ours',
      ordering: 'event-time',
      dataset: RATED,
      rateLimit: { limit: 150, windowMs: 5000 },
      gateWindowMs: 5000,
    },
    {
      ...base,
      name: 'ours, arrival, rated',
      system: 'ours',
      ordering: 'arrival',
      dataset: RATED,
      rateLimit: { limit: 150, windowMs: 5000 },
      gateWindowMs: 5000,
    },
    // Same rate in 2 s windows: X-RateLimit-Reset has 1 s resolution, which a short window magnifies.
    {
      ...base,
      name: 'ours, event-time, rated 2 s window',
      system: 'ours',
      ordering: 'event-time',
      dataset: RATED,
      rateLimit: { limit: 60, windowMs: 2000 },
      gateWindowMs: 2000,
    },
    // For comparison: the gate told a wrong (longer) window waits for the rounded-up X-RateLimit-Reset, as before P3.
    {
      ...base,
      name: 'ours, event-time, rated, window length not learned (what-if)',
      system: 'ours',
      ordering: 'event-time',
      dataset: RATED,
      rateLimit: { limit: 150, windowMs: 5000 },
    },
  ];
  return { off, on };
}

async function runDrainProcess(s: DrainScenario, dir: string, i: number): Promise<DrainResult> {
  const out = join(dir, `drain-${i}.json`);
  const log = join(dir, `drain-${i}.stderr.txt`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'drain.ts'), JSON.stringify(s), out], {
    cwd: ROOT,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // The handlers log a JSON line per batch to stdout, as on Lambda; not needed here.
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  writeFileSync(log, stderr);
  if (code !== 0) throw new Error(`drain "${s.name}" exited ${code}: ${stderr.slice(-1500)}`);
  const r = JSON.parse(readFileSync(out, 'utf8')) as DrainResult;
  process.stderr.write(
    `  ${s.name}: ${(r.wallMs / 1000).toFixed(1)} s, ${r.calls.total} calls, ${r.rateLimited} x 429, ${r.dlq} DLQ, ${r.finalState.wrongConnections} wrong\n`,
  );
  return r;
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  // This process hosts SDK clients too (the local SQS); its Node version notice is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(ROOT, 'bench', 'results', stamp);
  mkdirSync(dir, { recursive: true });
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      loadAverage: os.loadavg(),
      commit: commit(),
    },
    bundles: [],
    coldStart: [],
    cpu: [],
    cpuProfiles: {},
    coldProfiles: {},
    memory: [],
    drains: [],
  };

  process.stderr.write("bundling (esbuild, the construct's options)...\n");
  results.bundles = await bundleAll(join(dir, 'bundles'));
  const file = (name: EntryName, variant: BundleInfo['variant']) =>
    results.bundles.find((b) => b.name === name && b.variant === variant)!.file;

  if (!args.has('--skip-micro')) {
    const data = makeDataset(MAIN.events! >= 1000 ? MAIN : { ...MAIN, events: 1000 });
    const standins = await startStandins(data);
    const work = join(dir, 'work');
    try {
      process.stderr.write('cold starts...\n');
      results.coldStart = await coldStarts(
        results.bundles.filter((b) => b.variant !== 'deploy' && MEASURED_ENTRIES.includes(b.name)),
        standins,
        data,
        quick ? 3 : 7,
        work,
      );
      const first = firstEvents(data);
      for (const name of ['route', 'apply'] as const) {
        results.coldProfiles[name] = await profileColdStart(name, { mode: 'cold', events: [first[name]!] }, envFor(name, standins), work);
      }
      process.stderr.write('CPU per event...\n');
      results.cpu = await cpuCosts(
        {
          route: file('route', 'local'),
          apply: file('apply', 'local'),
          'sdk-consumer': file('sdk-consumer', 'local'),
          'floor-undici': file('floor-undici', 'local'),
          'floor-sqs': file('floor-sqs', 'local'),
        },
        standins,
        data,
        work,
      );
      // Where the time goes, for the shapes that miss the target.
      for (const j of cpuJobs(data)) {
        const row = results.cpu.find((c) => c.name === j.name && c.shape === j.shape);
        if ((j.name !== 'route' && j.name !== 'apply') || !row || row.usPerRecord <= 100) continue;
        results.cpuProfiles[`${j.name}, ${j.shape}`] = await profileJob(j.name, j.job, envFor(j.name, standins), work);
      }
      process.stderr.write('peak memory...\n');
      results.memory = await memoryPeaks({ route: file('route', 'local'), apply: file('apply', 'local') }, standins, data, work);
    } finally {
      await standins.close();
    }
  }

  if (!args.has('--skip-drain')) {
    const { off, on } = scenarios();
    let i = 0;
    process.stderr.write('drains, rate limit off (one at a time)...\n');
    for (const s of off) results.drains.push(await runDrainProcess(s, dir, i++));
    process.stderr.write('drains, rate limit on (side by side)...\n');
    results.drains.push(...(await Promise.all(on.map((s) => runDrainProcess(s, dir, i++)))));
  }

  results.meta.wallSeconds = (Date.now() - started) / 1000;
  const text = render(results);
  const json = JSON.stringify({ ...results, targets: evaluate(results) }, null, 2);
  writeFileSync(join(dir, 'results.json'), json);
  writeFileSync(join(dir, 'report.md'), text);
  copyFileSync(join(dir, 'results.json'), join(ROOT, 'bench', 'results', 'latest.json'));
  copyFileSync(join(dir, 'report.md'), join(ROOT, 'bench', 'results', 'latest.md'));
  process.stdout.write(`${text}\n\nresults: ${join(dir, 'results.json')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
