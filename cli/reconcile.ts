/**
 * `npm run reconcile`: compares what Nango holds for the keys we own with the desired state, prints
 * the drift (connection, key, value at Nango, desired value) and, unless --dry-run, enqueues a repair
 * sync for each drifted connection. The same code as the scheduled function, run from a terminal.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { catalog as samples } from '#events/catalog';
import { type Catalog, subjectRules } from '#events/define';
import { loadCatalogArg } from './catalog-arg.ts';
import { defaultOf, ENV } from '#commons/config';
import { Failure } from '#commons/failure';
import { HttpNangoClient } from '#commons/nango/http-client';
import { SqsQueues } from '#commons/queues';
import { reconcile, type ReconcileReport } from '#commons/reconcile/run';
import { subjectId } from '#commons/domain/subject';
import { redact } from '#commons/redact';
import { parseSecretValue, staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { DynamoMembershipStore, type RunState } from '#commons/state/membership';
import { SWEEP_RUN } from '#commons/sweep/run';
import { OutputKeys } from '../infra/outputs.ts';
import { helpText, npmTookDryRun, parseCommandLine, UsageError, type OptionTable } from './args.ts';
import { describeError } from './errors.ts';
import { findOutput, stackOutputs } from './stack-outputs.ts';
import { compactJson, plural, progressLine, stdoutOut, type Out } from './format.ts';

const OPTIONS = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  catalog: {
    type: 'string',
    valueName: 'PATH',
    description: "the deployment's catalog module: its tag keys tell a connection's subjects (default: the sample catalog)",
  },
  'catalog-export': { type: 'string', valueName: 'NAME', description: 'the export of --catalog holding the catalog (default catalog)' },
  'dry-run': { type: 'boolean', description: 'report the drift, enqueue nothing' },
  status: { type: 'boolean', description: "show the deployed sweep's run (progress, last complete run) and exit; needs only the table" },
  'request-repair': {
    type: 'boolean',
    description:
      'ask the deployed sweep for a run with drift repair (its next tick, within a minute, starts it) and exit; needs only the table',
  },
  json: { type: 'boolean', description: 'print the report as JSON (for scripts)' },
  subject: {
    type: 'string',
    multiple: true,
    valueName: 'ID',
    description: 'only this subject: organization_id=acme, tags:organization_id=acme or connection:<id> (repeatable)',
  },
  integration: { type: 'string', multiple: true, valueName: 'KEY', description: 'only connections of this integration (repeatable)' },
  stack: { type: 'string', valueName: 'NAME', description: "read the table, the sync queue and the key secret from this stack's outputs" },
  'nango-host': {
    type: 'string',
    valueName: 'URL',
    description: "Nango API base URL (default NANGO_HOST, the secret's host, or https://api.nango.dev)",
  },
  'page-size': { type: 'string', valueName: 'N', description: 'connections per Nango request, 1-1000 (default 1000)' },
  timeout: { type: 'string', valueName: 'SECONDS', description: 'stop after this long (default 600)' },
} satisfies OptionTable;

const HELP = helpText({
  usage: 'npm run reconcile -- [--status | --request-repair] [--dry-run] [--json] [--subject ID]... [--integration KEY]... [--stack NAME]',
  description:
    "Pages through Nango's connections (metadata and tags included, one request per page, paced by the\n" +
    'rate-limit headers), compares the keys this deployment owns with the desired state in the state table,\n' +
    'prints what drifted and, unless --dry-run, enqueues a repair sync for each drifted connection.\n' +
    'Where things are: --stack, else the environment (STATE_TABLE_NAME, SYNC_QUEUE_URL, NANGO_SECRET_KEY or\n' +
    'NANGO_SECRET_ID, NANGO_HOST), as `npm start -- --keep-running` prints them.\n' +
    'This runs in one process, for small fleets and dry runs (about 100,000 connections in the default\n' +
    'timeout). A larger fleet is checked by the deployed sweep, one page per invocation: --request-repair\n' +
    'asks it for a run with drift repair, --status follows it.',
  options: OPTIONS,
  sections: [
    {
      title: 'Examples',
      lines: [
        'npm run reconcile -- --dry-run',
        'npm run reconcile -- --stack NangoMetadataSync-prod --subject organization_id=acme',
        'npm run reconcile -- --stack NangoMetadataSync-prod --request-repair',
      ],
    },
    {
      title: 'Exit status',
      lines: [
        '0 nothing drifted, or every drifted connection was queued for repair',
        '1 drift found with --dry-run, or repairs not enqueued, or the run did not finish',
        '2 bad command line or configuration',
      ],
    },
  ],
});

interface Io {
  out?: Out;
  err?: Out;
  env?: NodeJS.ProcessEnv;
}

class ConfigError extends Error {}

/** `organization_id=acme` is short for `tags:organization_id=acme`; ids are stored percent-encoded. */
export function subjectArg(s: string): string {
  if (s.startsWith('tags:') || s.startsWith('connection:')) return s;
  const pairs = s.split('&').map((p) => p.split('='));
  if (pairs.some((p) => p.length !== 2 || !p[0] || !p[1]))
    throw new UsageError(`--subject: expected tag=value, tags:..., or connection:<id> (got "${s}")`);
  // The id route gives the subject: the same order and encoding, and the same digest for a long one.
  return subjectId({ by: 'tags', tags: Object.fromEntries(pairs), integrations: 'all' });
}

async function where(values: { stack?: string | undefined; 'nango-host'?: string | undefined }, env: NodeJS.ProcessEnv) {
  const outputs = values.stack ? await stackOutputs(values.stack, new CloudFormationClient({})) : [];
  const output = (key: string) => findOutput(outputs, key);
  const table = output(OutputKeys.StateTableName) ?? env[ENV.STATE_TABLE_NAME];
  const queue = output(OutputKeys.SyncQueueUrl) ?? env[ENV.SYNC_QUEUE_URL];
  if (!table) throw new ConfigError('no state table: pass --stack or set STATE_TABLE_NAME');
  if (!queue) throw new ConfigError('no sync queue: pass --stack or set SYNC_QUEUE_URL');
  const secretId = output(OutputKeys.SecretArn) ?? env[ENV.NANGO_SECRET_ID];
  let value = env[ENV.NANGO_SECRET_KEY];
  if (!value) {
    if (!secretId) throw new ConfigError('no Nango key: set NANGO_SECRET_KEY or NANGO_SECRET_ID, or pass --stack');
    value = (await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString ?? '';
  }
  // One parse, as the functions do: a bare key or JSON {"secretKey", "host"}, checked to be a UUID.
  let creds: ReturnType<typeof parseSecretValue>;
  try {
    creds = parseSecretValue(value);
  } catch (e) {
    throw new ConfigError(`the Nango secret key: ${(e as Error).message}`);
  }
  const host = values['nango-host'] ?? env[ENV.NANGO_HOST] ?? creds.host ?? 'https://api.nango.dev';
  if (!isHttpUrl(host)) throw new ConfigError(`the Nango host must be an http(s) URL (got "${host.slice(0, 200)}")`);
  return { table, queue, key: creds.secretKey, host };
}

function isHttpUrl(s: string): boolean {
  try {
    return /^https?:$/.test(new URL(s).protocol);
  } catch {
    return false;
  }
}

/**
 * 2 for what the operator must fix before a run can work (the command line, a missing or malformed
 * setting, a stack that does not exist, no AWS credentials, a key Nango does not accept), 1 for a
 * run that failed: the split send and dlq make.
 */
function exitCodeOf(e: unknown): number {
  if (e instanceof ConfigError) return 2;
  if (e instanceof Failure) return e.kind === 'unauthorized' || e.status === 401 || e.status === 403 ? 2 : 1;
  return describeError(e).exitCode;
}

export async function main(argv: readonly string[], io: Io = {}): Promise<number> {
  const out = io.out ?? stdoutOut(process.stdout);
  const err = io.err ?? stdoutOut(process.stderr);
  const env = io.env ?? process.env;
  const fail = (message: string, code: number) => {
    err.write(`npm run reconcile: ${redact(message)}\n`);
    return code;
  };
  let values: ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values'];
  let subjects: string[] | undefined;
  let pageSize: number;
  let timeoutMs: number;
  let catalog: Catalog;
  try {
    // No positionals: `npm run reconcile -- dry-run` (a flag without its dashes) must not run a live repair.
    ({ values } = parseCommandLine(argv, OPTIONS, { positionals: false }));
    if (values.help) {
      out.write(HELP);
      return 0;
    }
    const tookDryRun = npmTookDryRun(env, 'reconcile', values['dry-run'] === true);
    if (tookDryRun) throw tookDryRun;
    catalog = values.catalog ? loadCatalogArg(values.catalog, values['catalog-export']) : samples;
    subjects = values.subject?.map(subjectArg);
    pageSize = Number(values['page-size'] ?? 1000);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)
      throw new UsageError(`--page-size must be 1-1000 (got "${values['page-size']}")`);
    timeoutMs = Number(values.timeout ?? 600) * 1000;
    if (!(timeoutMs > 0)) throw new UsageError(`--timeout must be a positive number of seconds (got "${values.timeout}")`);
  } catch (e) {
    if (e instanceof UsageError) return fail(`${e.message}\nRun "npm run reconcile -- --help" for usage.`, 2);
    throw e;
  }
  if (values.status || values['request-repair']) {
    try {
      const outputs = values.stack ? await stackOutputs(values.stack, new CloudFormationClient({})) : [];
      const table = findOutput(outputs, OutputKeys.StateTableName) ?? env[ENV.STATE_TABLE_NAME];
      if (!table) throw new ConfigError('no state table: pass --stack or set STATE_TABLE_NAME');
      const runs = new DynamoMembershipStore(new DynamoDBClient({}), table);
      // The tick reads the flag: it starts a repair run, or makes the next run one if a run is going.
      if (values['request-repair']) await runs.requestRepair(SWEEP_RUN);
      const run = await runs.readRun(SWEEP_RUN);
      if (values.json) out.write(`${JSON.stringify(run ?? null)}\n`);
      else
        out.write(
          `${values['request-repair'] ? "Drift repair requested: the sweep's next tick (within a minute) starts it, or the next run does.\n" : ''}${renderStatus(run)}`,
        );
      return 0;
    } catch (e) {
      if (e instanceof ConfigError) return fail(e.message, 2);
      // As the full run: no credentials (say) is the operator's to fix, in words they can act on.
      const d = describeError(e);
      return fail(d.message, d.exitCode);
    }
  }
  const progress = progressLine(err);
  let report: ReconcileReport;
  try {
    const w = await where(values, env);
    const nango = new HttpNangoClient({ host: w.host, endpoint: 'current', keys: staticKeyProvider(w.key), timeoutMs: 30_000 });
    report = await reconcile(
      {
        nango,
        state: new DynamoStateStore(new DynamoDBClient({}), w.table),
        queues: new SqsQueues(new SQSClient({})),
        syncQueueUrl: w.queue,
        ...subjectRules(catalog),
        // The deployment's cap is not known here: the default, which the construct uses unless told otherwise.
        maxConnectionsPerSubject: defaultOf('MAX_CONNECTIONS_PER_SUBJECT'),
      },
      {
        dryRun: values['dry-run'] ?? false,
        ...(subjects ? { subjects } : {}),
        ...(values.integration ? { integrations: values.integration } : {}),
        pageSize,
        deadline: Date.now() + timeoutMs,
        runId: randomUUID(),
        onProgress: (p) =>
          progress.update(`reconcile: ${plural(p.pages, 'page')}, ${plural(p.checked, 'connection')} checked, ${p.drifted} drifted`),
      },
    );
  } catch (e) {
    progress.done();
    const message = e instanceof ConfigError || e instanceof Failure ? e.message : describeError(e).message;
    return fail(message, exitCodeOf(e));
  }
  progress.done();
  if (values.json) out.write(`${JSON.stringify(report, null, 2)}\n`);
  else out.write(render(report, values['dry-run'] ?? false));
  if (report.incomplete || report.repairsFailed) return 1;
  return values['dry-run'] && report.drifted.length ? 1 : 0;
}

function renderStatus(run: RunState | undefined): string {
  // A repair asked before any run leaves the item with only its flag.
  if (!run?.run) return 'No sweep run yet: the deployed sweep starts one on its next tick.\n';
  const when = (ms: number) => new Date(ms).toISOString();
  const lines = [
    run.status === 'running'
      ? `Running: ${run.run} (${run.repair ? 'with drift repair' : 'index'}), started ${when(run.startedAt)}, next page ${run.page}, lease until ${when(run.leaseUntil)}`
      : `Idle: last run ${run.run} ended.`,
    `  so far: ${JSON.stringify(run.counts)}`,
  ];
  if (run.repairRequested) lines.push('  drift repair requested: the next run repairs');
  const c = run.lastComplete;
  if (c)
    lines.push(
      `Last complete run: ${c.run} (${c.repair ? 'with drift repair' : 'index'}), ${when(c.startedAt)} to ${when(c.endedAt)}, ${c.pages} page(s), ${Math.round((Date.now() - c.startedAt) / 1000)} s ago`,
      `  ${JSON.stringify(c.counts)}`,
    );
  return `${lines.join('\n')}\n`;
}

function render(r: ReconcileReport, dryRun: boolean): string {
  const lines: string[] = [];
  for (const d of r.drifted) {
    lines.push(`${d.connectionId} / ${d.providerConfigKey}  (${d.subjects.join(', ')})`);
    for (const k of d.drift)
      lines.push(
        `    ${k.key}: at Nango ${k.atNango === undefined ? '(absent)' : compactJson(k.atNango, 80)} -> desired ${compactJson(k.desired, 80)}`,
      );
  }
  lines.push(
    `${plural(r.checked, 'connection')} checked in ${plural(r.pages, 'page')}: ${plural(r.drifted.length, 'connection')} drifted (${plural(r.driftedKeys, 'key')}).`,
  );
  if (dryRun) lines.push(r.drifted.length ? 'Dry run: nothing enqueued. Run without --dry-run to repair.' : 'Dry run: nothing to repair.');
  else
    lines.push(
      `${plural(r.repairsEnqueued, 'repair sync')} enqueued${r.repairsFailed ? `, ${r.repairsFailed} could not be enqueued` : ''}.`,
    );
  if (r.incomplete) lines.push('Stopped at the timeout before the last page: run again to check the rest.');
  if (r.unmatchedCount) {
    lines.push(`${plural(r.unmatchedCount, 'subject')} hold state that no connection belongs to (their events reach nobody):`);
    for (const u of r.unmatched ?? [])
      lines.push(
        `    ${u.subject}${u.nearMatches.map((n) => `  near match: ${n.subject} (differs by ${n.differsBy.join(' and ')})`).join('')}`,
      );
    if ((r.unmatched?.length ?? 0) < r.unmatchedCount) lines.push(`    ... and ${r.unmatchedCount - (r.unmatched?.length ?? 0)} more`);
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      process.stderr.write(`npm run reconcile: ${redact(e.message)}\n`);
      process.exit(1);
    },
  );
}
