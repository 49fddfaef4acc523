/**
 * `npm start`: the whole pipeline on this machine, no AWS account needed. Starts fauxqs queues, the
 * Secrets Manager and Nango stand-ins and the real route/apply handlers behind a local SQS event
 * source, sends the sample events (or yours), waits until everything settled, and prints per event
 * its patches and outcome, per connection its final metadata, and both DLQs with their errors.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { helpText, parseCommandLine, UsageError, type OptionTable } from './args.ts';
import { duration, plural, progressLine, stdoutOut, type Out } from './format.ts';
import {
  appliedVersions,
  buildEvents,
  dlqReport,
  type ConnectionReport,
  type EventReport,
  renderReport,
  type RunReport,
  type SentItem,
  subjectReport,
} from './local-report.ts';
import { loadSeedConnections, type LocalPipeline } from '../local/pipeline.ts';
import type { SeedConnection } from '../local/standins/nango.ts';
import { type Catalog, indexCatalog } from '#events/define';
import { loadCatalogArg, loadConnectionsArg } from './catalog-arg.ts';
import type { QueueCounts } from '../local/event-source.ts';
import { keepRunningText, watchUntilAborted } from './local-keep-running.ts';

/** Aborts on the first Ctrl-C or SIGTERM. */
function stopSignal(): AbortSignal {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ac.signal;
}

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SAMPLES = join(ROOT, 'events', 'samples');
const LATER_CONNECTIONS = join(ROOT, 'local', 'fixtures', 'connections-created-later.json');

const OPTIONS = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  catalog: {
    type: 'string',
    valueName: 'PATH',
    description: 'your catalog module (TypeScript or JavaScript), as the construct is given it (default: the sample catalog)',
  },
  'catalog-export': { type: 'string', valueName: 'NAME', description: 'the export of --catalog holding the catalog (default catalog)' },
  connections: {
    type: 'string',
    valueName: 'FILE',
    description: "the stand-in's connections: a JSON array of {connectionId, providerConfigKey, tags, metadata} (default: the samples')",
  },
  'nango-url': {
    type: 'string',
    valueName: 'URL',
    description: 'use this Nango server instead of the local stand-in (key from NANGO_SECRET_KEY)',
  },
  endpoint: {
    type: 'string',
    valueName: 'current|legacy',
    description: 'Nango metadata endpoint: PATCH /connections/metadata (current, default) or /connection/{id}/metadata',
  },
  json: { type: 'boolean', description: 'print the result as JSON (for scripts)' },
  verbose: { type: 'boolean', short: 'v', description: "show the handlers' JSON logs as they run (to stderr with --json)" },
  'log-file': {
    type: 'string',
    valueName: 'PATH',
    description: 'where handler logs go without --verbose (default: a file in the temp directory)',
  },
  'keep-running': { type: 'boolean', description: 'after the report, keep the pipeline up for the DLQ tool (npm run dlq) until Ctrl-C' },
  timeout: {
    type: 'string',
    valueName: 'SECONDS',
    description: 'give up waiting for the queues to drain after this long (default 60, 120 with --nango-url)',
  },
} satisfies OptionTable;

const HELP = helpText({
  usage: 'npm start -- [options] [event files or directories...]',
  description:
    'Runs the pipeline locally (fauxqs queues, Secrets Manager and Nango stand-ins, the real route and\n' +
    'apply handlers behind a local SQS event source), sends events, waits until every queue drained, and\n' +
    'prints what happened to each event, the final metadata of each connection, and both DLQs.\n' +
    'Without arguments it sends events/samples/*.json. A file holds one event envelope or an array.\n' +
    "With --nango-url, the webhook function verifies with WEBHOOK_SIGNING_KEY (the environment's webhook\n" +
    'signing key in Nango) and --keep-running prints its URL; a real Nango does not deliver webhooks to\n' +
    "loopback or private addresses, so expose that URL through a tunnel and register the tunnel's URL.",
  options: OPTIONS,
  sections: [
    {
      title: 'Examples',
      lines: [
        'npm start',
        'npm start -- my-events.json more-events/',
        'NANGO_SECRET_KEY=... npm start -- --nango-url http://localhost:3003 --endpoint legacy',
        'npm start --silent -- --json > result.json   (--silent: no npm banner in the JSON)',
        'npm start -- --keep-running   (then npm run dlq -- list / replay in another terminal)',
        'npx nango-metadata-sync start --catalog src/catalog.ts --connections connections.json events/',
      ],
    },
    {
      title: 'Exit status',
      lines: [
        '0 the run completed (events in a DLQ included)',
        '1 the run failed (queues did not drain, a component failed)',
        '2 bad command line or input',
      ],
    },
  ],
});

export interface MainIo {
  /** Where results go (default process.stdout). */
  out?: Out;
  /** Where errors and progress go (default process.stderr). */
  err?: Out;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Ends --keep-running (default: SIGINT or SIGTERM). */
  signal?: AbortSignal;
}

interface LoadedEvent {
  origin: string;
  value: unknown;
}

/** Reads event files (one envelope or an array each); directories contribute their *.json files, sorted. */
export async function loadEvents(paths: readonly string[], cwd: string): Promise<LoadedEvent[]> {
  const files: string[] = [];
  for (const p of paths) {
    const abs = resolve(cwd, p);
    const st = await stat(abs).catch(() => undefined);
    if (!st) throw new UsageError(`${p}: no such file or directory`);
    if (st.isDirectory()) {
      const names = (await readdir(abs)).filter((n) => n.endsWith('.json')).sort();
      if (names.length === 0) throw new UsageError(`${p}: no .json files in this directory`);
      files.push(...names.map((n) => join(abs, n)));
    } else files.push(abs);
  }
  const events: LoadedEvent[] = [];
  for (const f of files) {
    const name = relative(cwd, f) || f;
    let value: unknown;
    try {
      value = JSON.parse(await readFile(f, 'utf8'));
    } catch (e) {
      throw new UsageError(`${name}: not valid JSON (${(e as Error).message})`);
    }
    if (Array.isArray(value)) {
      if (value.length === 0) throw new UsageError(`${name}: an empty array holds no events`);
      value.forEach((v, i) => {
        events.push({ origin: `${name}#${i}`, value: v });
      });
    } else events.push({ origin: name, value });
  }
  return events;
}

/** Redirects everything written to process.stdout/stderr (the handlers' JSON logs, EMF metrics) to a sink. */
function captureProcessOutput(sink: (chunk: string | Uint8Array) => void): () => void {
  const saved = { out: process.stdout.write, err: process.stderr.write };
  const write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    sink(chunk);
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = write;
  process.stderr.write = write;
  return () => {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
  };
}

const progressText = (counts: QueueCounts[], p: LocalPipeline, startedAt: number) => {
  const [ing, pat] = counts;
  const q = (c: QueueCounts | undefined) =>
    c ? `${c.visible} waiting, ${c.inFlight} in flight${c.delayed ? `, ${c.delayed} delayed` : ''}` : '?';
  return `draining… ingress: ${q(ing)} | sync: ${q(pat)} | route ${p.route.stats().invocations}x, apply ${p.apply.stats().invocations}x | ${duration(Date.now() - startedAt)}`;
};

export async function main(argv: readonly string[], io: MainIo = {}): Promise<number> {
  const out = io.out ?? stdoutOut(process.stdout);
  const err = io.err ?? stdoutOut(process.stderr);
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  const fail = (message: string, code: number) => {
    err.write(`npm start: ${message}\n`);
    return code;
  };

  // 1. Command line and input: everything checked before anything starts.
  let values: ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values'];
  let positionals: string[];
  let events: LoadedEvent[];
  let catalog: Catalog;
  let seedConnections: SeedConnection[] | undefined;
  try {
    ({ values, positionals } = parseCommandLine(argv, OPTIONS));
    if (values.help) {
      out.write(HELP);
      return 0;
    }
    if (values.endpoint !== undefined && values.endpoint !== 'current' && values.endpoint !== 'legacy') {
      throw new UsageError(`--endpoint must be "current" or "legacy" (got "${values.endpoint}")`);
    }
    if (values['nango-url'] !== undefined) {
      let u: URL;
      try {
        u = new URL(values['nango-url']);
      } catch {
        throw new UsageError(`--nango-url: not a URL: "${values['nango-url']}"`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError('--nango-url must be an http(s) URL');
      if (!env.NANGO_SECRET_KEY) {
        throw new UsageError(
          "--nango-url needs the Nango secret key in NANGO_SECRET_KEY (the environment's secret key from the Nango dashboard)",
        );
      }
    }
    if (values['catalog-export'] !== undefined && values.catalog === undefined) throw new UsageError('--catalog-export needs --catalog');
    if (values.connections !== undefined && values['nango-url'] !== undefined)
      throw new UsageError('--connections seeds the stand-in; a real Nango (--nango-url) has its own connections');
    if (values.timeout !== undefined && !(Number(values.timeout) > 0))
      throw new UsageError(`--timeout must be a positive number of seconds (got "${values.timeout}")`);
    events = await loadEvents(positionals.length ? positionals : [SAMPLES], cwd);
    catalog = values.catalog
      ? loadCatalogArg(resolve(cwd, values.catalog), values['catalog-export'])
      : (await import('../events/catalog.ts')).catalog;
    if (values.connections !== undefined) seedConnections = await loadConnectionsArg(resolve(cwd, values.connections));
  } catch (e) {
    if (e instanceof UsageError) return fail(`${e.message}\nRun "npm start -- --help" for usage.`, 2);
    throw e;
  }

  const json = values.json ?? false;
  const verbose = values.verbose ?? false;
  const endpoint = (values.endpoint ?? 'current') as 'current' | 'legacy';
  const realNango = values['nango-url'];
  const timeoutMs = Number(values.timeout ?? (realNango ? 120 : 60)) * 1000;

  // 2. Handler logs: to a file by default, so the report stays readable.
  let logStream: WriteStream | undefined;
  let logFile: string | undefined;
  let restoreOutput: (() => void) | undefined;
  if (!verbose) {
    logFile = resolve(
      cwd,
      values['log-file'] ?? join(tmpdir(), `nango-metadata-sync-local-${new Date().toISOString().replace(/[:.]/g, '-')}.log`),
    );
    logStream = createWriteStream(logFile, { flags: 'w' });
    await new Promise<void>((ok, ko) => logStream!.once('open', () => ok()).once('error', ko)).catch((e: Error) => {
      throw new Error(`cannot write the log file ${logFile}: ${e.message}`);
    });
    const stream = logStream;
    restoreOutput = captureProcessOutput((chunk) => stream.write(chunk));
  } else if (json) {
    // Keep stdout pure JSON: the handlers' logs go to stderr.
    const toErr = process.stderr.write.bind(process.stderr);
    restoreOutput = captureProcessOutput((chunk) => toErr(chunk));
  }

  const startedAt = Date.now();
  let pipeline: LocalPipeline | undefined;
  const progress = progressLine(err);
  try {
    const { startLocalPipeline } = await import('../local/pipeline.ts');
    pipeline = await startLocalPipeline({
      endpoint,
      catalog,
      ...(seedConnections ? { connections: seedConnections } : {}),
      ...(realNango ? { nangoUrl: realNango, nangoSecretKey: env.NANGO_SECRET_KEY! } : {}),
      // A real Nango signs with its environment's key; the stand-in signs with whatever key it is given.
      ...(env.WEBHOOK_SIGNING_KEY ? { webhookSigningKey: env.WEBHOOK_SIGNING_KEY } : {}),
    });
    const p = pipeline;
    if (!json) {
      out.write(
        `Local pipeline: fauxqs queues, Secrets Manager stand-in, ${realNango ? `Nango at ${p.nangoUrl}` : `Nango stand-in with ${p.nango!.connections().length} connections`} (${endpoint} endpoint)\n`,
      );
      out.write(`Sending ${plural(events.length, 'event')}${positionals.length ? '' : ` from ${relative(cwd, SAMPLES) || SAMPLES}`}.\n`);
    }

    const sent = await p.send(events.map((e) => e.value));
    const items: SentItem[] = sent.map((s, i) => ({ ...s, origin: events[i]!.origin }));

    // A drain that times out still gets its report (events left pending), then exit 1.
    let drainError: Error | undefined;
    const drain = async () => {
      try {
        await p.drain({ timeoutMs, onProgress: (c) => progress.update(progressText(c, p, startedAt)) });
      } catch (e) {
        drainError = e as Error;
      } finally {
        progress.done();
      }
    };
    await drain();

    // 3. With the samples: customers connect after their events, as in the Connect UI; Nango's auth
    // webhook seeds each new connection with its subjects' state.
    const later = !positionals.length && p.nango && !drainError ? await loadSeedConnections(LATER_CONNECTIONS) : [];
    if (later.length) {
      if (!json) out.write(`Creating ${plural(later.length, 'connection')} after the events (Nango sends an auth webhook for each).\n`);
      for (const c of later) p.nango!.createConnection(c);
      await drain();
    }

    // 4. Results: the DLQs, the state table, what apply saw, and the connections' final metadata.
    const dlq = (await p.dlq()).map(dlqReport);
    const subjectIds = new Set<string>();
    const index = indexCatalog(catalog);
    const evFirst = buildEvents(items, [], [], dlq, true, index);
    for (const e of evFirst) if (e.subject) subjectIds.add(e.subject);
    const desired = (await Promise.all([...subjectIds].map((id) => p.state.readDesired(id)))).flat();
    const syncs = p.syncs();
    const evReports = buildEvents(items, desired, syncs, dlq, !drainError, index);
    const subjects = await Promise.all(
      [...subjectIds].sort().map(async (id) =>
        subjectReport(
          id,
          desired.filter((d) => d.subject === id),
          (await p.state.readIndex(id))?.connections.length ?? 0,
        ),
      ),
    );
    const laterKeys = new Set(later.map((c) => `${c.providerConfigKey}\n${c.connectionId}`));
    const known = p.nango
      ? p.nango.connections()
      : [
          ...new Map(
            syncs.flatMap((x) =>
              x.message ? [[`${x.message.target.providerConfigKey}\n${x.message.target.connectionId}`, x.message.target]] : [],
            ),
          ).values(),
        ];
    const connections: ConnectionReport[] = [];
    for (const c of [...known].sort(
      (a, b) => a.connectionId.localeCompare(b.connectionId) || a.providerConfigKey.localeCompare(b.providerConfigKey),
    )) {
      const target = { connectionId: c.connectionId, providerConfigKey: c.providerConfigKey };
      let metadata: ConnectionReport['metadata'];
      let readError: string | undefined;
      try {
        metadata = await p.metadataOf(c.connectionId, c.providerConfigKey);
      } catch (e) {
        readError = (e as Error).message;
      }
      connections.push({
        ...target,
        metadata,
        applied: appliedVersions((await p.state.readApplied(target)).keys),
        createdLater: laterKeys.has(`${c.providerConfigKey}\n${c.connectionId}`),
        ...(readError ? { readError } : {}),
      });
    }
    const n = (o: EventReport['outcome']) => evReports.filter((e) => e.outcome === o).length;
    const requests = p.nango?.requests ?? [];
    const report: RunReport = {
      nango: { url: p.nangoUrl, kind: p.nango ? 'stand-in' : 'real', endpoint },
      events: evReports,
      subjects,
      connections,
      dlq,
      summary: {
        events: evReports.length,
        setState: n('state'),
        superseded: n('superseded'),
        dlq: n('dlq'),
        pending: n('pending'),
        syncMessages: syncs.length,
        connectionsSeeded: syncs.filter((x) => x.message?.reason === 'seed').length,
        ...(p.nango
          ? {
              nango: {
                patches: requests.filter((r) => r.method === 'PATCH').length,
                lists: requests.filter((r) => r.method === 'GET' && r.path === '/connections').length,
                other: requests.filter((r) => r.method !== 'PATCH' && !(r.method === 'GET' && r.path === '/connections')).length,
              },
            }
          : {}),
        routeInvocations: p.route.stats().invocations,
        applyInvocations: p.apply.stats().invocations,
        durationMs: Date.now() - startedAt,
      },
      ...(logFile ? { logFile } : {}),
    };
    out.write(json ? `${JSON.stringify(report, null, 2)}\n` : `\n${renderReport(report, out)}`);
    if (values['keep-running'] && !drainError && !env.WEBHOOK_SIGNING_KEY && realNango) {
      err.write('WEBHOOK_SIGNING_KEY is not set: the webhook function refuses every webhook of that Nango (401).\n');
    }
    if (values['keep-running'] && !drainError) {
      (json ? err : out).write(keepRunningText(p));
      await watchUntilAborted(p, json ? err : out, io.signal ?? stopSignal());
      (json ? err : out).write('Stopping.\n');
    }
    if (drainError) return fail(`${drainError.message}${logFile ? `\nhandler logs: ${logFile}` : ''}`, 1);
    return report.summary.pending > 0 ? fail(`${plural(report.summary.pending, 'event')} did not finish`, 1) : 0;
  } catch (e) {
    progress.done();
    // The embedded pipeline's packages are optional dependencies: an install may have left them out.
    const missing = /Cannot find (?:package|module) '(fauxqs|dynalite)'/.exec((e as Error).message)?.[1];
    if (missing) return fail(`the local pipeline needs ${missing} (an optional dependency): npm install -D fauxqs dynalite`, 1);
    return fail(`${(e as Error).message}${logFile ? `\nhandler logs: ${logFile}` : ''}`, 1);
  } finally {
    await pipeline?.stop();
    restoreOutput?.();
    if (logStream) await new Promise<void>((r) => logStream!.end(() => r()));
  }
}

// Run when executed directly (tsx cli/local.ts), not when imported by a test.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const code = await main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`npm start: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  });
  process.exitCode = code;
}
