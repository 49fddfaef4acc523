/**
 * The one table of settings: every environment variable a function reads, with its schema, its
 * default, what it means, which functions read it and, for a setting a deployer tunes, the construct
 * prop behind it, that prop's unit and its `-c` context key. The functions' configuration
 * (config.ts) is parsed from it; the construct derives its defaults, its checks and each function's
 * environment from it, the CDK app its context keys, and the README and docs/operations.md their
 * tables (`npm run docs:settings`). Plain data and zod only: the functions bundle this module.
 *
 * Each schema is built on its first read, not when the module loads: a function imports this table
 * at its cold start but reads its settings once, at the first invocation, and building zod schemas
 * is among the largest costs of the import.
 */
import * as z from 'zod';
import { MAX_INDEX_ENTRIES } from './state/limits.ts';

export const NANGO_ENDPOINTS = ['current', 'legacy'] as const;
export type NangoEndpoint = (typeof NANGO_ENDPOINTS)[number];

/** Schemas built so far, by table entry: a getter builds its entry's schema once, on the first read. */
const built = new WeakMap<object, z.ZodType>();
function once<S extends z.ZodType>(entry: object, make: () => S): S {
  let schema = built.get(entry) as S | undefined;
  if (!schema) built.set(entry, (schema = make()));
  return schema;
}

const int = (min: number, max: number, def: number) => z.coerce.number().int().min(min).max(max).default(def);

export const FUNCTIONS = ['route', 'apply', 'webhook', 'reconcile'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];
/** The functions that call Nango. */
const NANGO = ['route', 'apply', 'reconcile'] as const;

/**
 * How a construct prop carries a setting: `seconds` and `milliseconds` are a `Duration` (the variable
 * holds whole seconds or milliseconds), `seconds or false` also takes `false` (the variable then keeps
 * its default), `count` a number, `text` a string, `flag` a boolean.
 */
export const UNITS = ['seconds', 'seconds or false', 'milliseconds', 'count', 'text', 'flag'] as const;
export type SettingUnit = (typeof UNITS)[number];

export interface SettingSpec {
  readonly schema: z.ZodType;
  /** One line: the README, the prop's checks and the context key's description all use it. */
  readonly doc: string;
  /** The functions that read the variable: the construct sets it in exactly these. */
  readonly readBy: readonly FunctionName[];
  /** The construct prop behind it (`apply.maxDefer`); none for what the construct wires itself (queue URLs, secrets). */
  readonly prop?: string;
  readonly unit?: SettingUnit;
  /** The CDK app's context key (`-c applyMaxDeferSeconds=30`, or `NMS_APPLY_MAX_DEFER_SECONDS`). */
  readonly context?: string;
  /** The construct's own lower bound, where a local run may go lower (scaled time in tests and the bench). */
  readonly propMin?: number;
}

/**
 * Every variable, grouped by who reads it: the Nango client's first, then one group per function.
 * Adding a setting is one entry here plus its use; a prop also needs its line (and JSDoc) in the
 * construct's props interface, which the compiler checks against this table.
 */
export const SETTINGS = {
  NANGO_HOST: {
    get schema() {
      return once(this, () => z.url().default('https://api.nango.dev'));
    },
    doc: 'Nango API base URL',
    readBy: NANGO,
    prop: 'nangoHost',
    unit: 'text',
    context: 'nangoHost',
  },
  NANGO_ENDPOINT: {
    get schema() {
      return once(this, () => z.enum(NANGO_ENDPOINTS).default('current'));
    },
    doc: '`current`: PATCH /connections/metadata; `legacy`: PATCH /connection/{id}/metadata (self-hosted)',
    readBy: NANGO,
    prop: 'nangoEndpoint',
    unit: 'text',
    context: 'nangoEndpoint',
  },
  NANGO_SECRET_ID: {
    get schema() {
      return once(this, () => z.string().min(1).optional());
    },
    doc: 'Secrets Manager name or ARN of the Nango secret key (bare, or JSON `{"secretKey": ...}`)',
    readBy: NANGO,
  },
  NANGO_SECRET_KEY: {
    get schema() {
      return once(this, () => z.string().min(1).optional());
    },
    doc: 'local runs only: the key itself, bypassing Secrets Manager',
    readBy: NANGO,
  },
  SECRET_CACHE_TTL_SECONDS: {
    get schema() {
      return once(this, () => int(0, 86_400, 300));
    },
    doc: 'how long a secret read is reused (a 401 reads it again at once)',
    readBy: [...NANGO, 'webhook'],
    prop: 'secretCacheTtl',
    unit: 'seconds',
    context: 'secretCacheTtlSeconds',
  },
  NANGO_TIMEOUT_MS: {
    get schema() {
      return once(this, () => int(100, 900_000, 10_000));
    },
    doc: "upper bound of one Nango request; the invocation's time left bounds it further",
    readBy: NANGO,
    prop: 'nangoTimeout',
    unit: 'milliseconds',
    context: 'nangoTimeoutMs',
  },
  NANGO_RATE_LIMIT_WINDOW_MS: {
    get schema() {
      return once(this, () => int(1_000, 3_600_000, 60_000));
    },
    doc: "length of Nango's fixed rate-limit window",
    readBy: NANGO,
    prop: 'nangoRateLimitWindow',
    unit: 'milliseconds',
    context: 'nangoRateLimitWindowMs',
  },
  STATE_TABLE_NAME: {
    get schema() {
      return once(this, () => z.string().min(3).max(255));
    },
    doc: 'the DynamoDB state table (desired state, applied state, connection index)',
    readBy: NANGO,
  },
  SYNC_QUEUE_URL: {
    get schema() {
      return once(this, () => z.url());
    },
    doc: 'the sync FIFO queue (one message group per connection)',
    readBy: ['route', 'apply', 'webhook', 'reconcile'],
  },
  SYNC_DLQ_URL: {
    get schema() {
      return once(this, () => z.url());
    },
    doc: "apply's dead-letter queue (FIFO)",
    readBy: ['apply'],
  },
  INGRESS_QUEUE_URL: {
    get schema() {
      return once(this, () => z.url().optional());
    },
    doc: "the ingress queue route consumes: a Retry-After becomes the visibility of its records there; apply sends a wait's settle there, delayed (apply without it defers nothing)",
    readBy: ['route', 'apply'],
  },
  INGRESS_DLQ_URL: {
    get schema() {
      return once(this, () => z.url());
    },
    doc: "route's dead-letter queue",
    readBy: ['route'],
  },
  MAX_RECEIVE_COUNT: {
    get schema() {
      return once(this, () => int(1, 1000, 5));
    },
    doc: "the consumed queue's redrive maxReceiveCount: the last receive parks transient failures itself",
    readBy: ['route', 'apply'],
  },
  INDEX_TTL_SECONDS: {
    get schema() {
      return once(this, () => int(0, 86_400, 300));
    },
    doc: "how long a subject's connection index is trusted before Nango is asked again",
    readBy: ['route'],
    prop: 'route.indexTtl',
    unit: 'seconds',
    context: 'indexTtlSeconds',
  },
  INDEX_EMPTY_TTL_SECONDS: {
    get schema() {
      return once(this, () => int(0, 3_600, 5));
    },
    doc: 'how long an empty lookup (no connection yet) is trusted',
    readBy: ['route'],
    prop: 'route.indexEmptyTtl',
    unit: 'seconds',
    context: 'indexEmptyTtlSeconds',
  },
  MAX_CONNECTIONS_PER_SUBJECT: {
    get schema() {
      return once(this, () => int(1, MAX_INDEX_ENTRIES, 100));
    },
    doc: `a subject resolving to more connections is refused (\`too_many_connections\`); at most ${MAX_INDEX_ENTRIES}, what one index item holds at the longest ids Nango allows`,
    readBy: NANGO,
    prop: 'route.maxConnectionsPerSubject',
    unit: 'count',
    context: 'maxConnectionsPerSubject',
  },
  INDEX_SWEEP_SECONDS: {
    get schema() {
      return once(this, () => int(1, 86_400, 300));
    },
    doc: "how often the sweep lists every connection (adds, moves, seeds): the longest a re-tag made through Nango's API can misdirect a key; route trusts the index while the last complete sweep is younger than twice this (the construct allows 60 or more: its schedule ticks every minute)",
    readBy: ['route', 'reconcile'],
    // A shorter interval than the minute tick would start a run every tick, yet route would trust no
    // run (it trusts one younger than twice the interval), so it would list per event.
    propMin: 60,
    prop: 'reconcile.indexSweep',
    unit: 'seconds or false',
    context: 'indexSweepSeconds',
  },
  SWEEP_QUEUE_URL: {
    get schema() {
      return once(this, () => z.url());
    },
    doc: "the sweep's own queue: one message per page of the listing",
    readBy: ['reconcile'],
  },
  SWEEP_PAGE_SIZE: {
    // 2,000 is the largest `limit` Nango's GET /connections takes.
    get schema() {
      return once(this, () => int(1, 2_000, 1_000));
    },
    doc: 'connections the sweep lists per page, one page per invocation with a membership read each: lower it if a page nears the reconcile timeout',
    readBy: ['reconcile'],
    prop: 'reconcile.sweepPageSize',
    unit: 'count',
    context: 'sweepPageSize',
  },
  MAX_INTEGRATIONS_PER_EVENT: {
    get schema() {
      return once(this, () => int(1, 1_000, 25));
    },
    doc: 'an event naming more integrations is refused (`too_many_integrations`)',
    readBy: ['route'],
    prop: 'route.maxIntegrationsPerEvent',
    unit: 'count',
    context: 'maxIntegrationsPerEvent',
  },
  MAX_FUTURE_SKEW_SECONDS: {
    get schema() {
      return once(this, () => int(0, 86_400, 300));
    },
    doc: 'an event timed further in the future is refused (`event_time_in_future`)',
    readBy: ['route'],
    prop: 'route.maxFutureSkew',
    unit: 'seconds',
    context: 'maxFutureSkewSeconds',
  },
  APPLY_GROUP_CONCURRENCY: {
    get schema() {
      return once(this, () => int(1, 100, 8));
    },
    doc: 'connections applied concurrently within one apply invocation',
    readBy: ['apply'],
    prop: 'apply.groupConcurrency',
    unit: 'count',
    context: 'applyGroupConcurrency',
  },
  APPLY_MAX_DEFER_SECONDS: {
    get schema() {
      return once(this, () => int(0, 900, 60));
    },
    doc: "how long a subject's keys may wait, counted from the first time, while they are rewritten behind apply or changes keep coming (a delayed settle message ends each wait by itself); 0: never wait",
    readBy: ['apply'],
    prop: 'apply.maxDefer',
    unit: 'seconds',
    context: 'applyMaxDeferSeconds',
  },
  WEBHOOK_SECRET_ID: {
    get schema() {
      return once(this, () => z.string().min(1).optional());
    },
    doc: 'Secrets Manager name or ARN of Nango\'s webhook signing key (bare, or JSON `{"signingKey": ...}`)',
    readBy: ['webhook'],
  },
  WEBHOOK_SIGNING_KEY: {
    get schema() {
      return once(this, () => z.string().min(1).optional());
    },
    doc: 'local runs only: the webhook signing key itself',
    readBy: ['webhook'],
  },
  WEBHOOK_MAX_BODY_BYTES: {
    get schema() {
      return once(this, () => int(1_024, 1_048_576, 65_536));
    },
    doc: 'larger webhook bodies are refused with 413',
    readBy: ['webhook'],
    prop: 'webhook.maxBodyBytes',
    unit: 'count',
    context: 'webhookMaxBodyBytes',
  },
  WEBHOOK_PATH_TOKEN: {
    get schema() {
      return once(this, () => z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, '16-128 characters of A-Z a-z 0-9 _ -'));
    },
    doc: 'the secret last segment of the webhook URL: any other path is refused before any other work',
    readBy: ['webhook'],
    prop: 'webhook.pathToken',
    unit: 'text',
    context: 'webhookPathToken',
  },
  LOG_SUBJECT_IDS: {
    get schema() {
      return once(this, () => z.enum(['true', 'false']).default('false'));
    },
    doc: 'log subject ids (they carry tag values) as they are; by default each is logged as `sha256:` and 16 hex digits',
    readBy: NANGO,
    prop: 'logSubjectIds',
    unit: 'flag',
    context: 'logSubjectIds',
  },
} as const satisfies Record<string, SettingSpec>;
