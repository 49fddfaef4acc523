/**
 * The one configuration module: every environment variable a function reads, with its schema, its
 * default and what it means. The CDK construct sets variables by these names, `local/` sets them for
 * the embedded pipeline, and the README's function-settings table is checked against `SETTINGS`.
 * Parsed with zod once per cold start, so a misconfigured deployment fails at init naming the variable.
 */
import * as z from 'zod';
import { MAX_INDEX_ENTRIES } from './state/limits.ts';

export const NANGO_ENDPOINTS = ['current', 'legacy'] as const;
export type NangoEndpoint = (typeof NANGO_ENDPOINTS)[number];

const int = (min: number, max: number, def: number) => z.coerce.number().int().min(min).max(max).default(def);

/**
 * Every variable: its schema (with the default) and one line for the README. Grouped by who reads it:
 * `nango` for every function that calls Nango, then one group per function.
 */
export const SETTINGS = {
  NANGO_HOST: { schema: z.url().default('https://api.nango.dev'), doc: 'Nango API base URL' },
  NANGO_ENDPOINT: {
    schema: z.enum(NANGO_ENDPOINTS).default('current'),
    doc: '`current`: PATCH /connections/metadata; `legacy`: PATCH /connection/{id}/metadata (self-hosted)',
  },
  NANGO_SECRET_ID: {
    schema: z.string().min(1).optional(),
    doc: 'Secrets Manager name or ARN of the Nango secret key (bare, or JSON `{"secretKey": ...}`)',
  },
  NANGO_SECRET_KEY: { schema: z.string().min(1).optional(), doc: 'local runs only: the key itself, bypassing Secrets Manager' },
  SECRET_CACHE_TTL_SECONDS: { schema: int(0, 86_400, 300), doc: 'how long a secret read is reused (a 401 reads it again at once)' },
  NANGO_TIMEOUT_MS: {
    schema: int(100, 900_000, 10_000),
    doc: "upper bound of one Nango request; the invocation's time left bounds it further",
  },
  NANGO_RATE_LIMIT_WINDOW_MS: { schema: int(1_000, 3_600_000, 60_000), doc: "length of Nango's fixed rate-limit window" },
  STATE_TABLE_NAME: {
    schema: z.string().min(3).max(255),
    doc: 'the DynamoDB state table (desired state, applied state, connection index)',
  },
  SYNC_QUEUE_URL: { schema: z.url(), doc: 'the sync FIFO queue (one message group per connection)' },
  SYNC_DLQ_URL: { schema: z.url(), doc: "apply's dead-letter queue (FIFO)" },
  INGRESS_QUEUE_URL: {
    schema: z.url().optional(),
    doc: "the ingress queue route consumes: a Retry-After becomes the visibility of its records there; apply sends a deferral's deadline there, delayed (apply without it defers nothing)",
  },
  INGRESS_DLQ_URL: { schema: z.url(), doc: "route's dead-letter queue" },
  MAX_RECEIVE_COUNT: {
    schema: int(1, 1000, 5),
    doc: "the consumed queue's redrive maxReceiveCount: the last receive parks transient failures itself",
  },
  INDEX_TTL_SECONDS: { schema: int(0, 86_400, 300), doc: "how long a subject's connection index is trusted before Nango is asked again" },
  INDEX_EMPTY_TTL_SECONDS: { schema: int(0, 3_600, 5), doc: 'how long an empty lookup (no connection yet) is trusted' },
  MAX_CONNECTIONS_PER_SUBJECT: {
    schema: int(1, MAX_INDEX_ENTRIES, 100),
    doc: `a subject resolving to more connections is refused (\`too_many_connections\`); at most ${MAX_INDEX_ENTRIES}, what one index item holds at the longest ids Nango allows`,
  },
  INDEX_SWEEP_SECONDS: {
    schema: int(1, 86_400, 300),
    doc: "how often the sweep lists every connection (adds, moves, seeds): the longest a re-tag made through Nango's API can misdirect a key; route trusts the index while the last complete sweep is younger than twice this (the construct allows 60 or more: its schedule ticks every minute)",
  },
  SWEEP_QUEUE_URL: { schema: z.url(), doc: "the sweep's own queue: one message per page of the listing" },
  MAX_INTEGRATIONS_PER_EVENT: { schema: int(1, 1_000, 25), doc: 'an event naming more integrations is refused (`too_many_integrations`)' },
  MAX_FUTURE_SKEW_SECONDS: { schema: int(0, 86_400, 300), doc: 'an event timed further in the future is refused (`event_time_in_future`)' },
  APPLY_GROUP_CONCURRENCY: { schema: int(1, 100, 8), doc: 'connections applied concurrently within one apply invocation' },
  APPLY_MAX_DEFER_SECONDS: {
    schema: int(0, 900, 60),
    doc: "while apply is behind, how long a subject's keys may be left to later syncs of a connection, counted from the first time; a delayed deadline message ends the wait by itself (0: never wait)",
  },
  WEBHOOK_SECRET_ID: {
    schema: z.string().min(1).optional(),
    doc: 'Secrets Manager name or ARN of Nango\'s webhook signing key (bare, or JSON `{"signingKey": ...}`)',
  },
  WEBHOOK_SIGNING_KEY: { schema: z.string().min(1).optional(), doc: 'local runs only: the webhook signing key itself' },
  WEBHOOK_MAX_BODY_BYTES: { schema: int(1_024, 1_048_576, 65_536), doc: 'larger webhook bodies are refused with 413' },
  WEBHOOK_PATH_TOKEN: {
    schema: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, '16-128 characters of A-Z a-z 0-9 _ -'),
    doc: 'the secret last segment of the webhook URL: any other path is refused before any other work',
  },
  LOG_SUBJECT_IDS: {
    schema: z.enum(['true', 'false']).default('false'),
    doc: 'log subject ids (they carry tag values) as they are; by default each is logged as `sha256:` and 16 hex digits',
  },
} as const;

export type SettingName = keyof typeof SETTINGS;
/** Variable names as constants, so a typo is a compile error in the construct and in local/. */
export const ENV = Object.fromEntries(Object.keys(SETTINGS).map((k) => [k, k])) as { readonly [K in SettingName]: K };

type Shape<K extends SettingName> = { [P in K]: (typeof SETTINGS)[P]['schema'] };
function pick<K extends SettingName>(...names: K[]): Shape<K> {
  return Object.fromEntries(names.map((n) => [n, SETTINGS[n].schema])) as Shape<K>;
}

const NANGO = [
  'NANGO_HOST',
  'NANGO_ENDPOINT',
  'NANGO_SECRET_ID',
  'NANGO_SECRET_KEY',
  'SECRET_CACHE_TTL_SECONDS',
  'NANGO_TIMEOUT_MS',
  'NANGO_RATE_LIMIT_WINDOW_MS',
] as const;

const hasNangoKey = (c: { NANGO_SECRET_ID?: string | undefined; NANGO_SECRET_KEY?: string | undefined }) =>
  c.NANGO_SECRET_ID !== undefined || c.NANGO_SECRET_KEY !== undefined;
const nangoKeyMessage = { message: 'set NANGO_SECRET_ID (Secrets Manager name or ARN) or, for local runs, NANGO_SECRET_KEY' };

/** Which variables each function reads: the construct sets exactly these. */
export const FUNCTION_SETTINGS = {
  route: [
    ...NANGO,
    'STATE_TABLE_NAME',
    'SYNC_QUEUE_URL',
    'INGRESS_QUEUE_URL',
    'INGRESS_DLQ_URL',
    'MAX_RECEIVE_COUNT',
    'INDEX_TTL_SECONDS',
    'INDEX_EMPTY_TTL_SECONDS',
    'INDEX_SWEEP_SECONDS',
    'MAX_CONNECTIONS_PER_SUBJECT',
    'MAX_INTEGRATIONS_PER_EVENT',
    'MAX_FUTURE_SKEW_SECONDS',
    'LOG_SUBJECT_IDS',
  ],
  apply: [
    ...NANGO,
    'STATE_TABLE_NAME',
    'SYNC_QUEUE_URL',
    'SYNC_DLQ_URL',
    'INGRESS_QUEUE_URL',
    'MAX_RECEIVE_COUNT',
    'APPLY_GROUP_CONCURRENCY',
    'APPLY_MAX_DEFER_SECONDS',
    'MAX_CONNECTIONS_PER_SUBJECT',
    'LOG_SUBJECT_IDS',
  ],
  webhook: [
    'SYNC_QUEUE_URL',
    'WEBHOOK_SECRET_ID',
    'WEBHOOK_SIGNING_KEY',
    'WEBHOOK_MAX_BODY_BYTES',
    'WEBHOOK_PATH_TOKEN',
    'SECRET_CACHE_TTL_SECONDS',
  ],
  reconcile: [
    ...NANGO,
    'STATE_TABLE_NAME',
    'SYNC_QUEUE_URL',
    'SWEEP_QUEUE_URL',
    'INDEX_SWEEP_SECONDS',
    'MAX_CONNECTIONS_PER_SUBJECT',
    'LOG_SUBJECT_IDS',
  ],
} as const satisfies Record<string, readonly SettingName[]>;
export type FunctionName = keyof typeof FUNCTION_SETTINGS;

export const routeConfigSchema = z.object(pick(...FUNCTION_SETTINGS.route)).refine(hasNangoKey, nangoKeyMessage);
export const applyConfigSchema = z.object(pick(...FUNCTION_SETTINGS.apply)).refine(hasNangoKey, nangoKeyMessage);
export const reconcileConfigSchema = z.object(pick(...FUNCTION_SETTINGS.reconcile)).refine(hasNangoKey, nangoKeyMessage);
export const webhookConfigSchema = z
  .object(pick(...FUNCTION_SETTINGS.webhook))
  .refine((c) => c.WEBHOOK_SECRET_ID !== undefined || c.WEBHOOK_SIGNING_KEY !== undefined, {
    message: "set WEBHOOK_SECRET_ID (the secret holding Nango's webhook signing key) or, for local runs, WEBHOOK_SIGNING_KEY",
  });

export type RouteConfig = z.output<typeof routeConfigSchema>;
export type ApplyConfig = z.output<typeof applyConfigSchema>;
export type WebhookConfig = z.output<typeof webhookConfigSchema>;
export type ReconcileConfig = z.output<typeof reconcileConfigSchema>;
/** What every Nango-calling function shares. */
export type NangoConfig = Pick<RouteConfig, (typeof NANGO)[number]>;

type NumericSetting = {
  [K in SettingName]: (typeof SETTINGS)[K]['schema'] extends z.ZodDefault<z.ZodCoercedNumber> ? K : never;
}[SettingName];

/** A numeric setting's bounds, for the construct's own checks of the props behind it. */
export function rangeOf(name: NumericSetting): [min: number, max: number] {
  const n = (SETTINGS[name].schema as z.ZodDefault<z.ZodCoercedNumber>).unwrap();
  return [n.minValue ?? Number.NEGATIVE_INFINITY, n.maxValue ?? Number.POSITIVE_INFINITY];
}

/** A setting's default, for the construct and local/ (one source of truth). */
export function defaultOf<K extends SettingName>(name: K): z.output<(typeof SETTINGS)[K]['schema']> {
  return SETTINGS[name].schema.parse(undefined) as z.output<(typeof SETTINGS)[K]['schema']>;
}

export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
