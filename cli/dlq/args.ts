/**
 * Command-line parsing (node:util parseArgs, strict); the help texts are in help.ts. Parsing yields plain
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
