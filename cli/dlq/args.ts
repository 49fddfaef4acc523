/**
 * Command-line parsing (node:util parseArgs, strict) and the help texts. Parsing yields plain
 * option objects; nothing here touches AWS, so bad input fails before any request is made.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Stage } from '#commons/dlq-envelope';
import { CliError } from './errors.ts';
import { parseTime, splitList, type Filter } from './filters.ts';

export const COMMANDS = ['list', 'inspect', 'replay', 'purge'] as const;
export type Command = (typeof COMMANDS)[number];

type Options = NonNullable<ParseArgsConfig['options']>;

const queueOptions = {
  help: { type: 'boolean', short: 'h' },
  stack: { type: 'string' },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  'ingress-url': { type: 'string' },
  'ingress-dlq-url': { type: 'string' },
  'sync-url': { type: 'string' },
  'sync-dlq-url': { type: 'string' },
  'nango-secret-id': { type: 'string' },
  stage: { type: 'string', multiple: true },
  json: { type: 'boolean' },
} satisfies Options;

const readOptions = {
  visibility: { type: 'string' },
  wait: { type: 'string' },
  'scan-limit': { type: 'string' },
  'error-code': { type: 'string', multiple: true },
  'event-type': { type: 'string', multiple: true },
  connection: { type: 'string', multiple: true },
  'provider-config-key': { type: 'string', multiple: true },
  id: { type: 'string', multiple: true },
  since: { type: 'string' },
  until: { type: 'string' },
  max: { type: 'string' },
} satisfies Options;

const replayOptions = {
  'dry-run': { type: 'boolean' },
  rate: { type: 'string' },
  native: { type: 'boolean' },
  'no-nango': { type: 'boolean' },
  'nango-host': { type: 'string' },
  force: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
} satisfies Options;

const purgeOptions = { yes: { type: 'boolean', short: 'y' } } satisfies Options;

const OPTIONS: Record<Command, Options> = {
  list: { ...queueOptions, ...readOptions },
  inspect: { ...queueOptions, ...readOptions },
  replay: { ...queueOptions, ...readOptions, ...replayOptions },
  purge: { ...queueOptions, ...purgeOptions },
};

export interface QueueFlags {
  stack?: string | undefined;
  region?: string | undefined;
  endpoint?: string | undefined;
  ingress?: string | undefined;
  ingressDlq?: string | undefined;
  sync?: string | undefined;
  syncDlq?: string | undefined;
}

export interface ReadFlags {
  visibilitySeconds: number;
  waitSeconds: number;
  scanLimit: number;
}

export interface ParsedArgs {
  command: Command | 'help';
  help: boolean;
  /** Stages named with --stage; undefined = both. */
  stages?: Stage[] | undefined;
  json: boolean;
  queues: QueueFlags;
  read: ReadFlags;
  filter: Filter;
  dryRun: boolean;
  native: boolean;
  /** Messages sent per second; 0 = unlimited. */
  rate: number;
  nango: { skip: boolean; host?: string | undefined; secretId?: string | undefined };
  /** Replay even where the destination queue's redrive policy does not name the DLQ. */
  force: boolean;
  yes: boolean;
}

export const DEFAULTS = { visibilitySeconds: 60, waitSeconds: 1, scanLimit: 10_000, rate: 10 } as const;

export function parseCommandLine(argv: readonly string[], now: Date = new Date()): ParsedArgs {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    const target = first === 'help' ? rest[0] : undefined;
    if (target !== undefined && !isCommand(target)) throw new CliError(`unknown command "${target}". Commands: ${COMMANDS.join(', ')}`);
    return { ...empty(), command: target ?? 'help', help: true };
  }
  if (!isCommand(first)) {
    throw new CliError(`unknown command "${first}". Commands: ${COMMANDS.join(', ')} (see --help)`);
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: [...rest], options: OPTIONS[first], strict: true, allowPositionals: false }));
  } catch (e) {
    throw new CliError(`${first}: ${(e as Error).message.split('\n')[0]} (see \`${first} --help\`)`);
  }
  const str = (k: string) => values[k] as string | undefined;
  const list = (k: string) => values[k] as string[] | undefined;
  const bool = (k: string) => values[k] === true;

  const stages = splitList(list('stage'))?.map((s) => {
    if (s !== 'route' && s !== 'apply') throw new CliError(`--stage must be route or apply (got "${s}")`);
    return s;
  });

  const filter: Filter = {
    stages,
    errorCodes: splitList(list('error-code')),
    // Event types, connection ids and keys may contain commas: repeat the flag instead.
    eventTypes: nonEmpty(list('event-type')),
    connectionIds: nonEmpty(list('connection')),
    providerConfigKeys: nonEmpty(list('provider-config-key')),
    messageIds: splitList(list('id')),
    since: str('since') !== undefined ? parseTime(str('since')!, '--since', now) : undefined,
    until: str('until') !== undefined ? parseTime(str('until')!, '--until', now) : undefined,
    max: str('max') !== undefined ? int(str('max')!, '--max', 1, 1_000_000) : undefined,
  };
  if (filter.since && filter.until && filter.since >= filter.until) throw new CliError('--since must be before --until');

  const url = (k: string) => {
    const v = str(k);
    if (v === undefined) return undefined;
    checkUrl(v, `--${k}`);
    return v;
  };
  const endpoint = str('endpoint');
  if (endpoint !== undefined) checkUrl(endpoint, '--endpoint');

  const parsed: ParsedArgs = {
    command: first,
    help: bool('help'),
    stages,
    json: bool('json'),
    queues: {
      stack: str('stack'),
      region: str('region'),
      endpoint,
      ingress: url('ingress-url'),
      ingressDlq: url('ingress-dlq-url'),
      sync: url('sync-url'),
      syncDlq: url('sync-dlq-url'),
    },
    read: {
      visibilitySeconds: str('visibility') !== undefined ? int(str('visibility')!, '--visibility', 5, 43_200) : DEFAULTS.visibilitySeconds,
      waitSeconds: str('wait') !== undefined ? int(str('wait')!, '--wait', 0, 20) : DEFAULTS.waitSeconds,
      scanLimit: str('scan-limit') !== undefined ? int(str('scan-limit')!, '--scan-limit', 1, 10_000_000) : DEFAULTS.scanLimit,
    },
    filter,
    dryRun: bool('dry-run'),
    native: bool('native'),
    rate: str('rate') !== undefined ? num(str('rate')!, '--rate') : DEFAULTS.rate,
    nango: { skip: bool('no-nango'), host: str('nango-host'), secretId: str('nango-secret-id') },
    force: bool('force'),
    yes: bool('yes'),
  };
  if (parsed.nango.host !== undefined) checkUrl(parsed.nango.host, '--nango-host');
  return parsed;
}

function empty(): Omit<ParsedArgs, 'command' | 'help'> {
  return {
    json: false,
    queues: {},
    read: { visibilitySeconds: DEFAULTS.visibilitySeconds, waitSeconds: DEFAULTS.waitSeconds, scanLimit: DEFAULTS.scanLimit },
    filter: {},
    dryRun: false,
    native: false,
    rate: DEFAULTS.rate,
    nango: { skip: false },
    force: false,
    yes: false,
  };
}

const isCommand = (s: string): s is Command => (COMMANDS as readonly string[]).includes(s);
const nonEmpty = (v: string[] | undefined) => (v?.length ? v : undefined);

function int(v: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(v.trim())) throw new CliError(`${flag} must be a whole number (got "${v}")`);
  const n = Number(v);
  if (n < min || n > max) throw new CliError(`${flag} must be between ${min} and ${max} (got ${n})`);
  return n;
}

function num(v: string, flag: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !Number.isFinite(n)) throw new CliError(`${flag} must be a number >= 0 (got "${v}")`);
  return n;
}

function checkUrl(v: string, flag: string): void {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new CliError(`${flag} must be a URL (got "${v}")`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CliError(`${flag} must be an http(s) URL (got "${v}")`);
}

const QUEUE_HELP = `Queues (flags win over --stack, --stack over environment variables):
  --stack NAME               read the queue URLs from the CloudFormation stack's outputs
                             (IngressQueueUrl, IngressDlqUrl, SyncQueueUrl, SyncDlqUrl)
  --ingress-dlq-url URL      the route stage's DLQ              (env INGRESS_DLQ_URL)
  --sync-dlq-url URL         the apply stage's DLQ, sync-dlq.fifo (env SYNC_DLQ_URL)
  --ingress-url URL          where route failures go back to    (env INGRESS_QUEUE_URL)
  --sync-url URL             where apply failures go back to, sync.fifo (env SYNC_QUEUE_URL)
  --stage route|apply        only this stage's DLQ (default: both)
  --region REGION            AWS region (default: AWS_REGION / your profile)
  --endpoint URL             SQS endpoint (default: AWS_ENDPOINT_URL_SQS, e.g. the local pipeline)
  --nango-secret-id ID       Secrets Manager secret with the Nango key (default NANGO_SECRET_ID;
                             NANGO_SECRET_KEY wins if set): read so that the key is scrubbed from
                             everything printed, should a stored error text hold it. Never printed.
  A version 1 stack (PatchesQueueUrl, PatchesDlqUrl) or environment (PATCHES_QUEUE_URL,
  PATCHES_DLQ_URL) is read too.`;

const FILTER_HELP = `Filters (all given must match; repeat a flag for several values):
  --error-code CODE          Nango's or the tool's error code (unknown_connection, invalid_event,
                             sqs_redrive for bare messages SQS moved, malformed_message, ...)
  --event-type TYPE          the event's detail-type (customer.plan_changed, ...)
  --connection ID            Nango connection id
  --provider-config-key KEY  Nango integration id
  --id MESSAGE_ID            a DLQ message id (as list shows it)
  --since TIME, --until TIME failure time range: ISO-8601 or an age (30m, 2h, 7d)
  --max N                    at most N messages, oldest first

Reading (messages stay in the DLQ; they are hidden from other readers while the tool runs):
  --visibility SECONDS       how long read messages stay hidden, renewed while running (default ${DEFAULTS.visibilitySeconds})
  --wait SECONDS             long-poll wait that ends a scan (default ${DEFAULTS.waitSeconds})
  --scan-limit N             read at most N messages per DLQ (default ${DEFAULTS.scanLimit})`;

export const HELP: Record<Command | 'help', string> = {
  help: `nango-metadata-sync DLQ tool: see what failed and why, replay it once fixed, never lose a message.

Usage: npm run dlq -- <command> [options]      (or: npx tsx cli/dlq.ts <command>)

Commands:
  list      summary by stage, error code, event type, connection and age, then one line per message
  inspect   every chosen message in full: the envelope with Nango's error, the target, the events
  replay    send chosen messages back to their stage's queue, then delete them from the DLQ
            (--dry-run to preview with each connection's current metadata; --native for SQS's own redrive)
  purge     delete every message of a DLQ (asks first; --yes to skip)

Run \`<command> --help\` for its options. Exit codes: 0 ok, 1 some messages failed, 2 bad input
or environment (unknown queue, no credentials), 130 interrupted.`,

  list: `Usage: dlq list [options]

Reads both DLQs without removing anything and prints a summary (by stage, error code, event type,
connection and age) and one line per message. Bare messages (moved by SQS's own redrive, no
envelope) are shown with error code sqs_redrive; unreadable ones as malformed_message.

  --json                     machine-readable output on stdout

${QUEUE_HELP}

${FILTER_HELP}`,

  inspect: `Usage: dlq inspect [options]

Prints each chosen DLQ message in full: the error (status, code, message, Nango's details), the
target connection, the patch (version 1 envelopes), the events it came from, attempts, failure
times, and what replay would send. Nothing is removed.

  --json                     the items as JSON (envelope included)

${QUEUE_HELP}

${FILTER_HELP}`,

  replay: `Usage: dlq replay [options]

Sends each chosen message back to its stage's source queue and deletes it from the DLQ only once
the send succeeded: route failures go to the ingress queue as the original event; apply failures
to the sync FIFO queue as the original sync message, in the connection's message group, with a new
deduplication id (apply then writes the connection's LATEST desired state, never old data). Each
connection's messages keep their order; if one fails to send, that connection's later ones wait.
Ctrl-C stops after the message in flight: every message is then either sent or still in the DLQ.

Before sending, each destination queue is checked: its redrive policy must name the DLQ being
replayed, and both must be FIFO or both standard; otherwise replay refuses (exit 2).

  --dry-run                  show what would be sent; for apply failures, the connection's current
                             metadata from Nango (GET /connections, which returns no credentials)
                             beside the patch. Nothing is sent or removed.
  --rate N                   messages sent per second (default ${DEFAULTS.rate}; 0 = no limit)
  --native                   move the whole DLQ back with SQS's StartMessageMoveTask (AWS only; no
                             filters) to the stage's source queue, named explicitly (messages the
                             functions wrote have no source SQS knows of), showing progress from
                             ListMessageMoveTasks (polled every DLQ_NATIVE_POLL_MS, default 2000).
                             The functions unwrap their own failure envelopes.
  --force                    replay even when a destination queue's redrive policy does not name
                             the DLQ (or the FIFO types differ). Use with care.
  --no-nango                 --dry-run without asking Nango
  --nango-host URL           default NANGO_HOST, the secret's host, else https://api.nango.dev
  --json                     the closing summary (or the dry-run plan) as JSON on stdout

Exit codes: 0 every chosen message replayed, 1 some failed or were skipped (the summary says which
and why; they stay in the DLQ), 2 bad input or a destination check failed, 130 interrupted.

${QUEUE_HELP}

${FILTER_HELP}`,

  purge: `Usage: dlq purge [options]

Deletes every message of the chosen DLQ(s) with SQS PurgeQueue. Asks for confirmation on a
terminal; without a terminal it refuses unless --yes is given. Nothing can be replayed afterwards.

  --yes, -y                  do not ask
  --json                     report as JSON

${QUEUE_HELP}`,
};
