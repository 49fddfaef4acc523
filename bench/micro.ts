/**
 * The per-function rows: CPU per event (route, apply, the SDK peer, and two floors: one request
 * through the same libraries with nothing around it), what dominates it (a sampled profile), peak
 * memory and cold start. Route runs first on real events; apply then runs on the sync messages route
 * left on the queue, as Lambda would hand them over.
 */
import { join } from 'node:path';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { BundleInfo, EntryName } from './bundles.ts';
import type { BenchEvent, Dataset } from './dataset.ts';
import {
  coldStarts,
  type ColdStartRow,
  type CpuRow,
  cpuRow,
  envFor,
  harvestSyncs,
  ingressEvent,
  memoryRow,
  type MemoryRow,
  record,
  sqsEvent,
  startStandins,
} from './microbench.ts';
import { ROUTE_DEFAULTS } from './ours.ts';
import { profileColdStart, profileJob, type ProfileSummary } from './profile.ts';

export interface MicroResults {
  cpu: CpuRow[];
  profiles: Record<string, ProfileSummary>;
  memory: MemoryRow[];
  coldStart: ColdStartRow[];
  /** Import + first invocation, the whole process sampled (unminified deploy build). */
  coldProfiles?: Record<string, ProfileSummary>;
}

const chunks = <T>(xs: readonly T[], n: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i + n <= xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
};

export async function micro(
  data: Dataset,
  bundles: BundleInfo[],
  work: string,
  o: { coldRuns: number; routeEvents: number },
): Promise<MicroResults> {
  const file = (name: EntryName) => bundles.find((b) => b.name === name && b.variant === 'local')!.file;
  const s = await startStandins(data);
  const progress = (m: string) => process.stderr.write(`  ${m}\n`);
  try {
    const perCustomer = new Map<string, BenchEvent>();
    for (const e of data.events) perCustomer.set(String(e.detail.organizationId), perCustomer.get(String(e.detail.organizationId)) ?? e);
    // Steady state: the warm-up fills every customer's connection index, as a running deployment has it.
    const warm = ingressEvent([...perCustomer.values()]);
    const measured = data.events.slice(0, o.routeEvents);
    const rest = data.events.slice(o.routeEvents);
    const cpu: CpuRow[] = [];
    const profiles: Record<string, ProfileSummary> = {};
    const batch = ROUTE_DEFAULTS.batchSize;
    progress(`CPU: route (batches of ${batch}, the default)...`);
    cpu.push(
      await cpuRow(
        'route',
        `batch of ${batch} events, index warm`,
        { warmup: warm, events: chunks(measured, batch).map(ingressEvent) },
        file('route'),
        s,
        work,
      ),
    );
    const syncs = await harvestSyncs(s);
    progress(`CPU: apply (${syncs.length} sync messages route left, batches of 10)...`);
    const [applyWarm, ...applyBatches] = chunks(syncs, 10).map(sqsEvent);
    const reserve = applyBatches.splice(-2, 2);
    if (!applyWarm || applyBatches.length === 0) throw new Error(`route left too few sync messages (${syncs.length})`);
    cpu.push(await cpuRow('apply', 'batch of 10 sync messages', { warmup: applyWarm, events: applyBatches }, file('apply'), s, work));
    progress('CPU: the SDK peer and the floors...');
    cpu.push(
      await cpuRow(
        'sdk-consumer',
        'batch of 10 events, sequential',
        { warmup: warm, events: chunks(rest.slice(0, 500), 10).map(ingressEvent) },
        file('sdk-consumer'),
        s,
        work,
      ),
    );
    const targets = (i: number): SQSRecord[] =>
      data.connections
        .slice(i * 10, i * 10 + 10)
        .map((c) => record(JSON.stringify({ connectionId: c.connectionId, providerConfigKey: c.providerConfigKey })));
    const patches = Array.from({ length: 40 }, (_, i) => sqsEvent(targets(i % Math.floor(data.connections.length / 10))));
    cpu.push(
      await cpuRow(
        'floor-undici',
        'one PATCH per record (undici alone)',
        { warmup: patches[0]!, events: patches.slice(1) },
        file('floor-undici'),
        s,
        work,
      ),
    );
    const bodies = syncs.slice(0, 100).map((r) => r.body);
    const sends = Array.from({ length: 20 }, () => sqsEvent(Array.from({ length: 10 }, () => record(JSON.stringify(bodies.slice(0, 10))))));
    cpu.push(
      await cpuRow(
        'floor-sqs',
        'one SendMessageBatch of 10 per record (SDK alone)',
        { warmup: sends[0]!, events: sends.slice(1) },
        file('floor-sqs'),
        s,
        work,
      ),
    );

    progress('profiles of route and apply...');
    profiles.route = await profileJob(
      'route',
      { mode: 'cpu', warmup: warm, events: chunks(rest.slice(500, 750), batch).map(ingressEvent) },
      envFor('route', s),
      work,
    );
    const more = chunks(await harvestSyncs(s), 10).map(sqsEvent);
    if (more.length > 1)
      profiles.apply = await profileJob('apply', { mode: 'cpu', warmup: more[0]!, events: more.slice(1) }, envFor('apply', s), work);

    progress('peak memory...');
    // 50 events: the largest batch a deployer may set (with a window), above the default, bounds memory.
    const memory = [
      await memoryRow('route', ingressEvent(rest.slice(1000, 1050)), file('route'), s, work),
      await memoryRow('apply', reserve[0]!, file('apply'), s, work),
    ];

    progress(`cold starts (${o.coldRuns} runs each, interleaved)...`);
    const first: Partial<Record<EntryName, SQSEvent>> = {
      route: ingressEvent(rest.slice(1100, 1101)),
      apply: sqsEvent(reserve[1]!.Records.slice(0, 1)),
      hello: ingressEvent(rest.slice(1101, 1102)),
      'sdk-consumer': ingressEvent(rest.slice(1102, 1103)),
    };
    // The deployed bundles, their @aws-sdk/* imports loaded from node_modules as Lambda loads the runtime's.
    const measuredBundles = bundles.filter((b) => b.variant === 'deploy' && b.name in first);
    const coldStart = await coldStarts(measuredBundles, first, s, o.coldRuns, join(work, 'cold'));
    const coldProfiles: Record<string, ProfileSummary> = {};
    for (const name of ['route', 'apply'] as const) {
      coldProfiles[name] = await profileColdStart(name, { mode: 'cold', events: [first[name]!] }, envFor(name, s), work);
    }
    return { cpu, profiles, memory, coldStart, coldProfiles };
  } finally {
    await s.close();
  }
}
