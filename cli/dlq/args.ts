/**
 * The command line (node:util parseArgs, strict) and its help texts. Nothing here touches AWS, so bad
 * input fails before any request is made.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Stage } from '#commons/dlq-envelope';
import { CliError } from '../errors.ts';

export const COMMANDS = ['list', 'inspect', 'replay', 'purge'] as const;
export type Command = (typeof COMMANDS)[number];

/** `name` a flag, `name=` a value, `name*` a repeatable value; -h and -y the short forms. */
const spec = (names: string): NonNullable<ParseArgsConfig['options']> =>
  Object.fromEntries(
    names.split(' ').map((n) => {
      const [name, short] = [n.replace(/[=*]$/, ''), /^(help|yes)$/.test(n) ? { short: n[0] } : {}];
      return [name, { type: n === name ? 'boolean' : 'string', multiple: n.endsWith('*'), ...short }];
    }),
  );
const COMMON = 'help json stage* stack= region= endpoint= ingress-url= ingress-dlq-url= sync-url= sync-dlq-url= nango-secret-id=';
const READ = `${COMMON} visibility= wait= scan-limit= since= until= max= error-code* event-type* connection* provider-config-key* id*`;
const OPTIONS = {
  list: spec(READ),
  inspect: spec(READ),
  replay: spec(`${READ} yes dry-run native no-nango force rate= nango-host=`),
  purge: spec(`${COMMON} yes`),
};

export type ParsedArgs = ReturnType<typeof parseCommandLine>;
export type Filter = ParsedArgs['filter'];
export type QueueFlags = Partial<ParsedArgs['queues']>;

export const DEFAULTS = { visibilitySeconds: 60, waitSeconds: 1, scanLimit: 10_000, rate: 10 } as const;

export function parseCommandLine(argv: readonly string[], now: Date = new Date()) {
  const [first = 'help', ...rest] = argv;
  const asksHelp = first === 'help' || first === '--help' || first === '-h';
  const named = (first === 'help' ? rest[0] : asksHelp ? undefined : first) as Command | undefined;
  if (named !== undefined && !COMMANDS.includes(named)) {
    throw new CliError(`unknown command "${named}". Commands: ${COMMANDS.join(', ')}${asksHelp ? '' : ' (see --help)'}`);
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined> = { help: true };
  if (named && !asksHelp) {
    try {
      ({ values } = parseArgs({ args: [...rest], options: OPTIONS[named], strict: true, allowPositionals: false }));
    } catch (e) {
      throw new CliError(`${named}: ${(e as Error).message.split('\n')[0]} (see \`${named} --help\`)`);
    }
  }
  const str = (k: string) => values[k] as string | undefined;
  const list = (k: string) => values[k] as string[] | undefined;
  const bool = (k: string) => values[k] === true;
  const opt = <T>(k: string, parse: (v: string, flag: string) => T) => (str(k) === undefined ? undefined : parse(str(k)!, `--${k}`));
  const url = (k: string) => opt(k, checkUrl);
  const time = (v: string, f: string) => parseTime(v, f, now);

  const stages = splitList(list('stage')) as Stage[] | undefined;
  for (const s of stages ?? []) if (s !== 'route' && s !== 'apply') throw new CliError(`--stage must be route or apply (got "${s}")`);
  const filter = {
    stages,
    errorCodes: splitList(list('error-code')),
    // Event types, connection ids and keys may contain commas: repeat the flag instead.
    ...{ eventTypes: list('event-type'), connectionIds: list('connection'), providerConfigKeys: list('provider-config-key') },
    messageIds: splitList(list('id')),
    /** Failure time (envelope lastFailureAt, else the DLQ message's SentTimestamp): since inclusive, until exclusive. */
    ...{ since: opt('since', time), until: opt('until', time), max: opt('max', int(1, 1_000_000)) },
  };
  if (filter.since && filter.until && filter.since >= filter.until) throw new CliError('--since must be before --until');
  const endpoint = url('endpoint');
  const [ingress, ingressDlq, sync, syncDlq] = ['ingress', 'ingress-dlq', 'sync', 'sync-dlq'].map((k) => url(`${k}-url`));
  return {
    command: named ?? ('help' as const),
    help: bool('help'),
    json: bool('json'),
    // An empty --region (say, an unset shell variable) leaves the region to the SDK (AWS_REGION, the profile), as no --region does.
    queues: { stack: str('stack'), region: str('region') || undefined, endpoint, ingress, ingressDlq, sync, syncDlq },
    read: {
      visibilitySeconds: opt('visibility', int(5, 43_200)) ?? DEFAULTS.visibilitySeconds,
      waitSeconds: opt('wait', int(0, 20)) ?? DEFAULTS.waitSeconds,
      scanLimit: opt('scan-limit', int(1, 10_000_000)) ?? DEFAULTS.scanLimit,
    },
    filter: filter as Partial<typeof filter>,
    ...{ dryRun: bool('dry-run'), native: bool('native') },
    rate: opt('rate', num) ?? DEFAULTS.rate,
    nango: { skip: bool('no-nango'), host: url('nango-host'), secretId: str('nango-secret-id') },
    /** Replay even where the destination queue's redrive policy does not name the DLQ. */
    ...{ force: bool('force'), yes: bool('yes') },
  };
}

const int = (min: number, max: number) => (v: string, flag: string) => {
  if (!/^\d+$/.test(v.trim())) throw new CliError(`${flag} must be a whole number (got "${v}")`);
  const n = Number(v);
  if (n < min || n > max) throw new CliError(`${flag} must be between ${min} and ${max} (got ${n})`);
  return n;
};

function num(v: string, flag: string): number {
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !Number.isFinite(Number(v))) throw new CliError(`${flag} must be a number >= 0 (got "${v}")`);
  return Number(v);
}

function checkUrl(v: string, flag: string): string {
  if (!URL.canParse(v)) throw new CliError(`${flag} must be a URL (got "${v}")`);
  if (!/^https?:$/.test(new URL(v).protocol)) throw new CliError(`${flag} must be an http(s) URL (got "${v}")`);
  return v;
}

/** ISO-8601 (`2026-05-01`, `2026-05-01T10:00:00Z`) or an age relative to now (`90m`, `2h`, `7d` = that long ago). */
export function parseTime(value: string, flag: string, now: Date = new Date()): Date {
  const unitMs: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  const rel = /^(\d+)\s*([smhdw])$/i.exec(value.trim());
  if (rel) return new Date(now.getTime() - Number(rel[1]) * (unitMs[rel[2]!.toLowerCase()] ?? 0));
  const ymd = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  const d = ymd ? new Date(value) : undefined;
  // JavaScript rolls a day past the month's end over (2026-02-30 is 2 March): such a date is refused.
  const real = ymd && new Date(Date.UTC(Number(ymd[1]), Number(ymd[2]) - 1, Number(ymd[3]))).getUTCDate() === Number(ymd[3]);
  if (d && real && !Number.isNaN(d.getTime())) return d;
  throw new CliError(`${flag}: "${value}" is not a time; use ISO-8601 (2026-05-01T10:00:00Z) or an age such as 30m, 2h, 7d`);
}

/** Repeatable flags also accept comma-separated values: --error-code a,b --error-code c. */
function splitList(values: readonly string[] | undefined): string[] | undefined {
  const out = values?.flatMap((v) => v.split(',').map((s) => s.trim())).filter(Boolean);
  return out?.length ? out : undefined;
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

const READ_HELP = `${QUEUE_HELP}

Filters (all given must match; repeat a flag for several values):
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

${READ_HELP}`,

  inspect: `Usage: dlq inspect [options]

Prints each chosen DLQ message in full: the error (status, code, message, Nango's details), the
target connection, the patch (version 1 envelopes), the events it came from, attempts, failure
times, and what replay would send. Nothing is removed.

  --json                     the items as JSON (envelope included)

${READ_HELP}`,

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

${READ_HELP}`,

  purge: `Usage: dlq purge [options]

Deletes every message of the chosen DLQ(s) with SQS PurgeQueue. Asks for confirmation on a
terminal; without a terminal it refuses unless --yes is given. Nothing can be replayed afterwards.

  --yes, -y                  do not ask
  --json                     report as JSON

${QUEUE_HELP}`,
};
