/**
 * The construct's props and every default in one object (AWS Solutions Constructs style): a default
 * is changed here and nowhere else. Function settings take their defaults from the functions' own
 * configuration module, so the construct and the handlers cannot disagree.
 */
import { Duration } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sm from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { defaultOf, type FunctionName, NANGO_ENDPOINTS, type NangoEndpoint } from '#commons/config';
import type { CatalogModule } from './catalog-module.ts';
import { settingDefaults } from './settings.ts';

export type { CatalogModule };

export { NANGO_ENDPOINTS, type NangoEndpoint, type FunctionName };
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface FunctionOptions {
  readonly timeout?: Duration;
  readonly memorySize?: number;
}

export interface RouteFunctionOptions extends FunctionOptions {
  /**
   * Records per invocation (1-10000; above 10 needs a batching window of 1 s or more).
   * @default 10
   */
  readonly batchSize?: number;
  /**
   * How long Lambda gathers records before invoking (0-300 s, whole seconds). Zero invokes as soon
   * as a receive returns: an isolated change is routed at once. A window gathers bigger batches in a
   * burst (fewer invocations and sync messages: docs/operations.md, "Deployment settings") but holds every
   * change at least that long, and on a queue with very little traffic AWS documents waits of up to
   * 20 s whatever the window.
   * @default Duration.seconds(0)
   */
  readonly maxBatchingWindow?: Duration;
  /** Concurrent invocations the event source may run (2-1000). */
  readonly maxConcurrency?: number;
  /** How long a subject's connection index is trusted (INDEX_TTL_SECONDS). */
  readonly indexTtl?: Duration;
  /** How long an empty connection lookup is trusted (INDEX_EMPTY_TTL_SECONDS). */
  readonly indexEmptyTtl?: Duration;
  /** A subject resolving to more connections is refused (MAX_CONNECTIONS_PER_SUBJECT). */
  readonly maxConnectionsPerSubject?: number;
  /** An event naming more integrations is refused (MAX_INTEGRATIONS_PER_EVENT). */
  readonly maxIntegrationsPerEvent?: number;
  /** An event timed further in the future is refused (MAX_FUTURE_SKEW_SECONDS). */
  readonly maxFutureSkew?: Duration;
}

export interface ApplyFunctionOptions extends FunctionOptions {
  /** Messages per invocation (1-10: the FIFO limit). */
  readonly batchSize?: number;
  /** Concurrent invocations (2-1000): bounds the request rate to Nango, whose rate limit is per account. */
  readonly maxConcurrency?: number;
  /** Connections applied concurrently in one invocation (APPLY_GROUP_CONCURRENCY). */
  readonly groupConcurrency?: number;
  /**
   * While apply is behind route, how long a connection's keys may wait for a later sync to send them
   * with newer ones, in one PATCH (APPLY_MAX_DEFER_SECONDS; zero: never wait).
   */
  readonly maxDefer?: Duration;
}

/**
 * CloudFront and a WAF web ACL in front of the function URL: a rate-based rule per source IP turns a
 * flood away before it reaches Lambda's request limit. CloudFront's web ACLs live in us-east-1.
 */
export interface WebhookCloudFrontOptions {
  /**
   * ARN of an existing web ACL with scope CLOUDFRONT (created in us-east-1).
   * @default one is created, with a rate-based rule (possible only when this stack deploys to us-east-1)
   */
  readonly webAclArn?: string;
  /** Requests one source IP may send in 5 minutes before the created web ACL blocks it (10-2,000,000,000). @default 300 */
  readonly rateLimitPer5Minutes?: number;
}

export interface WebhookFunctionOptions extends FunctionOptions {
  /**
   * Reserved concurrency. A function URL accepts at most 10 requests a second per unit of it, so this
   * is also the URL's request cap (1-1000; docs/operations.md, "Security", has the sizing).
   */
  readonly reservedConcurrency?: number;
  /**
   * The URL's secret last segment (WEBHOOK_PATH_TOKEN), 16-128 characters of `A-Za-z0-9_-`; the
   * `WebhookUrl` output includes it. Set one to rotate it.
   * @default derived from the stack's id (a UUID CloudFormation draws when the stack is created)
   */
  readonly pathToken?: string;
  /** Put CloudFront and a WAF rate-based rule in front of the URL (`true` for the defaults). @default false */
  readonly cloudFront?: boolean | WebhookCloudFrontOptions;
  /** Larger webhook bodies are refused with 413 (WEBHOOK_MAX_BODY_BYTES). */
  readonly maxBodyBytes?: number;
}

export interface ReconcileFunctionOptions extends FunctionOptions {
  /**
   * When reconcile runs: an EventBridge schedule expression (`rate(...)` or `cron(...)`), or `false`
   * for no schedule (the function is still deployed, for the CLI). @default rate(1 day)
   */
  readonly schedule?: string | false;
  /**
   * How often the sweep lists every connection (INDEX_SWEEP_SECONDS): the longest a re-tag made
   * through Nango's API can misdirect a key, and how soon a connection whose webhook was lost is
   * seeded. Ticks come every minute; `false` turns the sweep off (route then lists per subject). @default 5 minutes
   */
  readonly indexSweep?: Duration | false;
  /** Connections the sweep lists per page, one page per invocation (SWEEP_PAGE_SIZE, 1-2000). @default 1000 */
  readonly sweepPageSize?: number;
}

export interface QueueOptions {
  readonly retentionPeriod?: Duration;
  /** At least six times the consumer's timeout (plus its batching window). @default that minimum */
  readonly visibilityTimeout?: Duration;
  /** Receives before SQS moves a message to the DLQ (1-1000); also the functions' MAX_RECEIVE_COUNT. */
  readonly maxReceiveCount?: number;
  /**
   * How long SQS holds each message before its consumer may see it (0-900 s). On the sync queue it
   * delays every change and every seed by as much; apply's deferral coalesces bursts without it, and
   * a delay only helps when apply keeps up with route during a burst.
   * @default 0 for both queues
   */
  readonly deliveryDelay?: Duration;
}

export interface TableOptions {
  /** CloudFormation and the console refuse to delete the table while this is on. @default true */
  readonly deletionProtection?: boolean;
  /** @default a CloudFormation-generated name */
  readonly tableName?: string;
}

export interface EventRuleOptions {
  /** Retries of a failed delivery to the ingress queue (0-185). */
  readonly retryAttempts?: number;
  /** Oldest event EventBridge still tries to deliver (60 s - 24 h). */
  readonly maxEventAge?: Duration;
  /** Where undeliverable events go. @default the ingress DLQ (same body as an ingress message, so replay handles it) */
  readonly deadLetterQueue?: sqs.IQueue;
  readonly enabled?: boolean;
}

export interface AlarmOptions {
  /** Subscribe this address to the alarm topic (the recipient must confirm). @default no subscription */
  readonly email?: string;
  /** Send alarms to this topic instead of creating one. @default a new KMS-encrypted topic */
  readonly topic?: sns.ITopic;
  readonly ingressOldestMessageAge?: Duration;
  readonly syncOldestMessageAge?: Duration;
  /** Alarm before a DLQ message expires: must be shorter than dlqRetentionPeriod. */
  readonly dlqOldestMessageAge?: Duration;
  /** Requests answered 4xx by the webhook URL in 5 minutes, twice in a row, that raise WebhookUrl4xx. @default 100 */
  readonly webhookUrl4xxPer5Minutes?: number;
  /** Requests answered 5xx by the webhook URL in 5 minutes that raise WebhookUrl5xx. @default 3 */
  readonly webhookUrl5xxPer5Minutes?: number;
  /** Bad signatures on the right path in 5 minutes that raise WebhookSignatureRejected. @default 5 */
  readonly webhookSignatureRejectedPer5Minutes?: number;
}

export interface NangoMetadataSyncProps {
  /** Nango API base URL (NANGO_HOST). */
  readonly nangoHost?: string;
  /** `current` = PATCH /connections/metadata; `legacy` = PATCH /connection/{id}/metadata (NANGO_ENDPOINT). */
  readonly nangoEndpoint?: NangoEndpoint;
  /** Upper bound of one Nango request (NANGO_TIMEOUT_MS). */
  readonly nangoTimeout?: Duration;
  /** Length of Nango's fixed rate-limit window (NANGO_RATE_LIMIT_WINDOW_MS). */
  readonly nangoRateLimitWindow?: Duration;
  /** The secret holding the Nango secret key. At most one of `secret` and `secretId`. @default an empty placeholder you fill */
  readonly secret?: sm.ISecret;
  /** Name, complete ARN or partial ARN of an existing secret holding the Nango secret key. */
  readonly secretId?: string;
  /** The customer-managed KMS key of an imported Nango secret, if it has one. @default none (aws/secretsmanager) */
  readonly secretEncryptionKey?: kms.IKey;
  /** The secret holding Nango's webhook signing key. At most one of `webhookSecret` and `webhookSecretId`. @default an empty placeholder */
  readonly webhookSecret?: sm.ISecret;
  /** Name or ARN of an existing secret holding Nango's webhook signing key. */
  readonly webhookSecretId?: string;
  /** The customer-managed KMS key of an imported webhook secret, if it has one. */
  readonly webhookSecretEncryptionKey?: kms.IKey;
  /** How long a secret read is reused (SECRET_CACHE_TTL_SECONDS). */
  readonly secretCacheTtl?: Duration;
  /** The bus whose events the rule matches. @default the account's default event bus */
  readonly eventBus?: events.IEventBus;
  /**
   * Your event catalog: the module exporting the array of `defineEvent(...)` results. It is loaded at
   * synth for the rule pattern and bundled into each function, so both follow the same module.
   */
  readonly catalog: CatalogModule;
  /**
   * The directory the functions are bundled from (its node_modules resolve the catalog's imports).
   * @default the directory of the lock file nearest above the catalog module
   */
  readonly projectRoot?: string;
  /** The lock file of that project: where `projectRoot` is when it is not given. @default the lock file nearest above the catalog module */
  readonly depsLockFilePath?: string;
  readonly rule?: EventRuleOptions;
  readonly route?: RouteFunctionOptions;
  readonly apply?: ApplyFunctionOptions;
  readonly webhook?: WebhookFunctionOptions;
  readonly reconcile?: ReconcileFunctionOptions;
  readonly ingressQueue?: QueueOptions;
  readonly syncQueue?: QueueOptions;
  /** Retention of both DLQs; must be longer than their source queues'. */
  readonly dlqRetentionPeriod?: Duration;
  readonly table?: TableOptions;
  readonly logRetention?: logs.RetentionDays;
  /** POWERTOOLS_LOG_LEVEL. */
  readonly logLevel?: LogLevel;
  /** Log subject ids (they carry tag values) as they are, not as a digest (LOG_SUBJECT_IDS). @default false */
  readonly logSubjectIds?: boolean;
  /** POWERTOOLS_SERVICE_NAME: also the `service` dimension of the functions' metrics. */
  readonly serviceName?: string;
  /** POWERTOOLS_METRICS_NAMESPACE. */
  readonly metricsNamespace?: string;
  /**
   * X-Ray for the four functions. Off by default: without a tracer in the code, a trace holds only
   * Lambda's own segments (duration, cold start), which the logs and metrics already carry.
   * @default lambda.Tracing.DISABLED
   */
  readonly tracing?: lambda.Tracing;
  readonly alarms?: AlarmOptions;
  /** @default a CloudFormation-generated name */
  readonly dashboardName?: string;
  /**
   * Over the default esbuild options (split ESM, minified, source maps, AWS SDK bundled;
   * `bundleAwsSDK: false`: the runtime's). NodejsFunction's names; only esbuild's own options
   * (`SUPPORTED_BUNDLING`): the functions are bundled locally with esbuild's API, never in Docker.
   */
  readonly bundling?: BundlingOptions;
}

/**
 * Every default, in one place. A prop behind a function setting takes its default from the settings
 * table (settings.ts), so the construct and the handlers cannot disagree.
 */
/** The sweep's own queue keeps a page this long (a page waits only for the next tick); its DLQ must keep it longer. */
export const SWEEP_QUEUE_RETENTION = Duration.days(1);

export const DEFAULTS = {
  ...settingDefaults(''),
  rule: { retryAttempts: 185, maxEventAge: Duration.hours(24), enabled: true },
  route: {
    timeout: Duration.seconds(30),
    memorySize: 512,
    // No batching window: an isolated change reaches Nango in about 0.1 s instead of the window's 1 s
    // (or more: Lambda may hold a windowed batch on a quiet queue). Apply's deferral, not route's
    // batch, is what folds a burst into one PATCH per connection; the window only saved requests.
    batchSize: 10,
    maxBatchingWindow: Duration.seconds(0),
    maxConcurrency: 10,
    ...settingDefaults('route'),
  },
  apply: {
    // A whole 60 s rate-limit window plus one request fits one invocation: handing the batch back
    // instead would spend a receive on every message, and the last receive parks it.
    timeout: Duration.seconds(90),
    // Apply mostly waits on Nango and DynamoDB (about 70 MiB at its peak): CPU, which Lambda scales
    // with memory, is not what it spends its time on, so half of route's memory halves its GB-s.
    memorySize: 256,
    batchSize: 10,
    maxConcurrency: 2,
    ...settingDefaults('apply'),
  },
  // Nango gives a webhook 20 s; a verify, a table read and one enqueue need far less.
  webhook: {
    timeout: Duration.seconds(10),
    memorySize: 256,
    // 50 requests/s at the URL: docs/operations.md, "Security", for the sizing.
    reservedConcurrency: 5,
    cloudFront: false as boolean | WebhookCloudFrontOptions,
    ...settingDefaults('webhook'),
  },
  webhookCloudFront: { rateLimitPer5Minutes: 300 },
  // One list call per 1,000 connections, each bounded by nangoTimeout and the rate limit.
  // One page of the sweep per invocation: a list call and up to 1,000 membership reads.
  reconcile: {
    timeout: Duration.minutes(5),
    memorySize: 512,
    schedule: 'rate(1 day)' as string | false,
    ...settingDefaults('reconcile'),
  },
  queue: { retentionPeriod: Duration.days(4), maxReceiveCount: defaultOf('MAX_RECEIVE_COUNT') },
  // No fixed delay: apply's deferral already leaves a connection's keys to its later sync while its
  // customer's changes keep coming, and a delay would hold every change and every seed as long.
  ingressDeliveryDelay: Duration.seconds(0),
  syncDeliveryDelay: Duration.seconds(0),
  dlqRetentionPeriod: Duration.days(14),
  table: { deletionProtection: true },
  logRetention: logs.RetentionDays.ONE_MONTH,
  logLevel: 'INFO' as LogLevel,
  serviceName: 'nango-metadata-sync',
  metricsNamespace: 'NangoMetadataSync',
  tracing: lambda.Tracing.DISABLED,
  alarms: {
    ingressOldestMessageAge: Duration.minutes(10),
    syncOldestMessageAge: Duration.hours(1),
    dlqOldestMessageAge: Duration.days(10),
    webhookUrl4xxPer5Minutes: 100,
    webhookUrl5xxPer5Minutes: 3,
    webhookSignatureRejectedPer5Minutes: 5,
  },
} as const;
