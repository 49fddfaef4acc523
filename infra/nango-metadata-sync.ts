/**
 * NangoMetadataSync: the whole pipeline as one reusable construct.
 *
 *   EventBridge rule (pattern from the catalog) -> ingress (SQS) -> route fn -> patches.fifo -> apply fn -> Nango
 *   failures: ingress-dlq (route and the rule's target), patches-dlq.fifo (apply)
 *
 * Every default is safe for production and overridable by a prop; props are checked up front and
 * all problems are reported together (AWS Solutions Constructs style). cdk-nag findings that do
 * not apply to this design are acknowledged here, next to the resource, with the reason.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Construct } from 'constructs';
import { Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sm from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { catalog as defaultCatalog, indexCatalog, type Catalog } from '#events/catalog';
import { MetricName } from '#powertools/metrics';
import { catalogEventPattern, type CatalogEventPattern } from './event-pattern.ts';
import { importSecret, secretPolicyResource } from './secret.ts';
import { Checks, isEmail, isHttpUrl, SECRET_ARN_RE, SECRET_NAME_RE } from './validate.ts';

/** The repository root: entries, lock file and tsconfig are found from here. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** ESM bundles need `require` for the CommonJS dependencies esbuild inlines (aliased to avoid clashes). */
export const ESM_BANNER =
  "import { createRequire as __nmsCreateRequire } from 'module'; const require = __nmsCreateRequire(import.meta.url);";

export type NangoEndpoint = 'current' | 'legacy';
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
export type ApplyOrdering = 'event-time' | 'arrival';

export interface RouteFunctionOptions {
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** Records per invocation (1-10000; above 10 needs a batching window). @default 50 */
  readonly batchSize?: number;
  /** How long Lambda gathers records before invoking (0-300 s). @default 1 second */
  readonly maxBatchingWindow?: Duration;
  /** Concurrent invocations the event source may run (2-1000). @default 10 */
  readonly maxConcurrency?: number;
  /** How long `GET /connections?connectionId=` answers are reused (CONNECTIONS_CACHE_TTL_SECONDS). @default 60 seconds */
  readonly connectionsCacheTtl?: Duration;
}

export interface ApplyFunctionOptions {
  /** @default 60 seconds */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /** Messages per invocation (1-10: the limit for FIFO queues). @default 10 */
  readonly batchSize?: number;
  /**
   * Concurrent invocations (2-1000). This bounds the request rate to Nango, whose rate limit is
   * per account (200/min on the free plan): raise it on paid plans. @default 2
   */
  readonly maxConcurrency?: number;
  /** Connections (message groups) applied concurrently in one invocation (APPLY_GROUP_CONCURRENCY). @default 8 */
  readonly groupConcurrency?: number;
  /**
   * ORDERING: `event-time` never lets an older event overwrite a key, whatever the arrival order
   * (one GET per connection and batch); `arrival` applies in queue order, one request fewer. @default event-time
   */
  readonly ordering?: ApplyOrdering;
}

export interface QueueOptions {
  /** @default 4 days */
  readonly retentionPeriod?: Duration;
  /** Must be at least six times the consumer's timeout (plus its batching window). @default that minimum */
  readonly visibilityTimeout?: Duration;
  /** Receives before SQS moves a message to the DLQ (1-1000). @default 5 */
  readonly maxReceiveCount?: number;
}

export interface EventRuleOptions {
  /** Retries of a failed delivery to the ingress queue (0-185). @default 185 */
  readonly retryAttempts?: number;
  /** Oldest event EventBridge still tries to deliver (60 s - 24 h). @default 24 hours */
  readonly maxEventAge?: Duration;
  /** Where undeliverable events go. @default the ingress DLQ (same body as an ingress message, so `dlq replay` handles it) */
  readonly deadLetterQueue?: sqs.IQueue;
  /** @default true */
  readonly enabled?: boolean;
}

export interface AlarmOptions {
  /** Subscribe this address to the alarm topic (the recipient must confirm). @default no subscription */
  readonly email?: string;
  /** Send alarms to this topic instead of creating one. @default a new KMS-encrypted topic */
  readonly topic?: sns.ITopic;
  /** Alarm when the oldest ingress message is older than this. @default 10 minutes */
  readonly ingressOldestMessageAge?: Duration;
  /** Alarm when the oldest patch waiting for Nango is older than this. @default 1 hour */
  readonly patchesOldestMessageAge?: Duration;
}

export interface NangoMetadataSyncProps {
  /** Nango API base URL (NANGO_HOST). @default https://api.nango.dev */
  readonly nangoHost?: string;
  /** `current` = PATCH /connections/metadata; `legacy` = PATCH /connection/{id}/metadata (NANGO_ENDPOINT). @default current */
  readonly nangoEndpoint?: NangoEndpoint;
  /** Upper bound of one Nango request (NANGO_TIMEOUT_MS). @default 10 seconds */
  readonly nangoTimeout?: Duration;
  /** The secret holding the Nango secret key. Give at most one of `secret` and `secretId`. @default an empty placeholder you fill */
  readonly secret?: sm.ISecret;
  /** Name, complete ARN or partial ARN of an existing secret holding the Nango secret key. */
  readonly secretId?: string;
  /** The customer-managed KMS key of an imported secret, if it has one (decrypt is granted). @default none (aws/secretsmanager) */
  readonly secretEncryptionKey?: kms.IKey;
  /** How long functions reuse the key before reading the secret again (SECRET_CACHE_TTL_SECONDS). @default 5 minutes */
  readonly secretCacheTtl?: Duration;
  /** The bus whose events the rule matches. @default the account's default event bus */
  readonly eventBus?: events.IEventBus;
  /** The event catalog the rule pattern is derived from. @default the catalog in events/catalog.ts */
  readonly catalog?: Catalog;
  readonly rule?: EventRuleOptions;
  readonly route?: RouteFunctionOptions;
  readonly apply?: ApplyFunctionOptions;
  readonly ingressQueue?: QueueOptions;
  readonly patchesQueue?: QueueOptions;
  /** Retention of both DLQs; must be longer than their source queues'. @default 14 days (the SQS maximum) */
  readonly dlqRetentionPeriod?: Duration;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
  /** POWERTOOLS_LOG_LEVEL. @default INFO */
  readonly logLevel?: LogLevel;
  /** POWERTOOLS_SERVICE_NAME: also the `service` dimension of the functions' metrics. @default nango-metadata-sync */
  readonly serviceName?: string;
  /** POWERTOOLS_METRICS_NAMESPACE. @default NangoMetadataSync */
  readonly metricsNamespace?: string;
  /** @default Tracing.ACTIVE */
  readonly tracing?: lambda.Tracing;
  readonly alarms?: AlarmOptions;
  /** @default a dashboard with a CloudFormation-generated name */
  readonly dashboardName?: string;
  /** Merged over the default esbuild options (ESM, minified, source maps, @aws-sdk/* external). */
  readonly bundling?: BundlingOptions;
}

const ENDPOINTS: readonly NangoEndpoint[] = ['current', 'legacy'];
const LOG_LEVELS: readonly LogLevel[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];
const ORDERINGS: readonly ApplyOrdering[] = ['event-time', 'arrival'];
const FOUR_DAYS = Duration.days(4);
/** PutRule's limit on EventPattern. */
const MAX_EVENT_PATTERN_LENGTH = 4096;

export class NangoMetadataSync extends Construct {
  readonly ingressQueue: sqs.Queue;
  readonly ingressDlq: sqs.Queue;
  readonly patchesQueue: sqs.Queue;
  readonly patchesDlq: sqs.Queue;
  readonly routeFunction: NodejsFunction;
  readonly applyFunction: NodejsFunction;
  readonly eventBus: events.IEventBus;
  readonly rule: events.Rule;
  readonly eventPattern: CatalogEventPattern;
  readonly secret: sm.ISecret;
  readonly alarmTopic: sns.ITopic;
  readonly alarms: Readonly<Record<string, cw.Alarm>>;
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: NangoMetadataSyncProps = {}) {
    super(scope, id);
    const cfg = resolveProps(props);

    // ---- queues -------------------------------------------------------------------------------
    const encrypted = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true } as const;
    const highThroughputFifo = {
      fifo: true,
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
    } as const;

    this.ingressDlq = new sqs.Queue(this, 'IngressDlq', { ...encrypted, retentionPeriod: cfg.dlqRetention });
    this.ingressQueue = new sqs.Queue(this, 'Ingress', {
      ...encrypted,
      retentionPeriod: cfg.ingress.retentionPeriod,
      visibilityTimeout: cfg.ingress.visibilityTimeout,
      deadLetterQueue: { queue: this.ingressDlq, maxReceiveCount: cfg.ingress.maxReceiveCount },
    });
    this.patchesDlq = new sqs.Queue(this, 'PatchesDlq', {
      ...encrypted,
      ...highThroughputFifo,
      retentionPeriod: cfg.dlqRetention,
    });
    this.patchesQueue = new sqs.Queue(this, 'Patches', {
      ...encrypted,
      ...highThroughputFifo,
      // Route sets an explicit deduplication id (event id + connection): content is not the identity.
      contentBasedDeduplication: false,
      retentionPeriod: cfg.patches.retentionPeriod,
      visibilityTimeout: cfg.patches.visibilityTimeout,
      deadLetterQueue: { queue: this.patchesDlq, maxReceiveCount: cfg.patches.maxReceiveCount },
    });
    for (const dlq of [this.ingressDlq, this.patchesDlq]) {
      Validations.of(dlq).acknowledge({
        id: 'Serverless-SQSRedrivePolicy',
        reason: 'This queue is itself a dead-letter queue; messages leave it only through the replay tool, never by another redrive.',
      });
    }

    // ---- secret -------------------------------------------------------------------------------
    if (props.secret) this.secret = props.secret;
    else if (props.secretId) this.secret = importSecret(this, 'NangoSecret', props.secretId);
    else this.secret = this.placeholderSecret();
    const secretId = this.secret.secretFullArn ?? this.secret.secretArn;

    // ---- functions ----------------------------------------------------------------------------
    const shared: Record<string, string> = {
      NANGO_HOST: cfg.nangoHost,
      NANGO_ENDPOINT: cfg.nangoEndpoint,
      NANGO_SECRET_ID: secretId,
      NANGO_TIMEOUT_MS: String(cfg.nangoTimeout.toMilliseconds()),
      SECRET_CACHE_TTL_SECONDS: String(cfg.secretCacheTtl.toSeconds()),
      POWERTOOLS_SERVICE_NAME: cfg.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: cfg.metricsNamespace,
      POWERTOOLS_LOG_LEVEL: cfg.logLevel,
      NODE_OPTIONS: '--enable-source-maps',
    };

    this.routeFunction = this.fn('Route', 'route', 'Validates catalog events and fans them out as per-connection patches', cfg, {
      timeout: cfg.route.timeout,
      memorySize: cfg.route.memorySize,
      environment: {
        ...shared,
        PATCHES_QUEUE_URL: this.patchesQueue.queueUrl,
        INGRESS_DLQ_URL: this.ingressDlq.queueUrl,
        // Route parks a transient failure itself on the last receive, so it must know the redrive limit.
        MAX_RECEIVE_COUNT: String(cfg.ingress.maxReceiveCount),
        CONNECTIONS_CACHE_TTL_SECONDS: String(cfg.route.connectionsCacheTtl.toSeconds()),
      },
    });
    this.applyFunction = this.fn('Apply', 'apply', 'Applies metadata patches to Nango, in order per connection', cfg, {
      timeout: cfg.apply.timeout,
      memorySize: cfg.apply.memorySize,
      environment: {
        ...shared,
        // Apply sets a 429's Retry-After as the visibility of its messages on the queue it consumes.
        PATCHES_QUEUE_URL: this.patchesQueue.queueUrl,
        PATCHES_DLQ_URL: this.patchesDlq.queueUrl,
        // Apply writes the DLQ envelope itself on the last attempt, so it must know the redrive limit.
        MAX_RECEIVE_COUNT: String(cfg.patches.maxReceiveCount),
        APPLY_GROUP_CONCURRENCY: String(cfg.apply.groupConcurrency),
        ORDERING: cfg.apply.ordering,
      },
    });

    this.routeFunction.addEventSource(
      new SqsEventSource(this.ingressQueue, {
        batchSize: cfg.route.batchSize,
        maxBatchingWindow: cfg.route.maxBatchingWindow,
        maxConcurrency: cfg.route.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.applyFunction.addEventSource(
      new SqsEventSource(this.patchesQueue, {
        batchSize: cfg.apply.batchSize,
        maxConcurrency: cfg.apply.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    for (const f of [this.routeFunction, this.applyFunction]) {
      for (const child of f.node.children) {
        if (child instanceof lambda.EventSourceMapping) {
          Validations.of(child).acknowledge({
            id: 'Serverless-LambdaEventSourceMappingDestination',
            reason:
              'SQS event source mappings do not support on-failure destinations; failed records return to the queue and its redrive policy moves them to the DLQ.',
          });
        }
      }
    }

    // Least privilege beyond what the event sources grant (receive, delete, change visibility on their own queue).
    this.patchesQueue.grantSendMessages(this.routeFunction);
    this.ingressDlq.grantSendMessages(this.routeFunction);
    this.patchesDlq.grantSendMessages(this.applyFunction);
    for (const f of [this.routeFunction, this.applyFunction]) {
      // Both read the key: route calls GET /connections for `integrations: 'all'` targets.
      f.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretPolicyResource(this.secret)] }),
      );
      const key = props.secretEncryptionKey ?? this.secret.encryptionKey;
      if (key) key.grantDecrypt(f);
    }

    // ---- EventBridge ----------------------------------------------------------------------------
    this.eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    this.eventPattern = catalogEventPattern(cfg.catalog);
    this.rule = new events.Rule(this, 'Rule', {
      eventBus: this.eventBus,
      enabled: cfg.rule.enabled,
      description: 'Catalog events to the Nango metadata sync ingress queue',
      // The L2 type cannot express `$or`; the exact pattern is set on the L1 below.
      eventPattern: { source: [...new Set(cfg.catalog.map((e) => e.source))].sort() },
    });
    (this.rule.node.defaultChild as events.CfnRule).eventPattern = this.eventPattern;
    this.rule.addTarget(
      new targets.SqsQueue(this.ingressQueue, {
        retryAttempts: cfg.rule.retryAttempts,
        maxEventAge: cfg.rule.maxEventAge,
        deadLetterQueue: props.rule?.deadLetterQueue ?? this.ingressDlq,
      }),
    );

    // ---- alarms and dashboard -------------------------------------------------------------------
    this.alarmTopic = props.alarms?.topic ?? this.createAlarmTopic(cfg.alarmEmail);
    this.alarms = this.createAlarms(cfg);
    this.dashboard = this.createDashboard(cfg);
  }

  private placeholderSecret(): sm.Secret {
    const secret = new sm.Secret(this, 'NangoSecret', {
      description:
        'Nango secret key for nango-metadata-sync: a bare key, or JSON {"secretKey": "...", "host": "..."}. Fill it with put-secret-value.',
    });
    // No generated value: the template never holds key material, and a random string would only fail with 401.
    (secret.node.defaultChild as sm.CfnSecret).addPropertyDeletionOverride('GenerateSecretString');
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The value is a Nango secret key issued in the Nango dashboard; it cannot be rotated by a Lambda here. Rotate it in Nango and put the new value; the functions read it again on 401.',
    });
    return secret;
  }

  private fn(
    id: string,
    entry: 'route' | 'apply',
    description: string,
    cfg: Resolved,
    opts: { timeout: Duration; memorySize: number; environment: Record<string, string> },
  ): NodejsFunction {
    // Own role without AWSLambdaBasicExecutionRole: logs are granted on this function's log group only.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${id} function of nango-metadata-sync`,
    });
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: cfg.logRetention });
    logGroup.grantWrite(role);
    const f = new NodejsFunction(this, id, {
      entry: path.join(PROJECT_ROOT, 'functions', `${entry}.ts`),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      description,
      role,
      logGroup,
      tracing: cfg.tracing,
      timeout: opts.timeout,
      memorySize: opts.memorySize,
      environment: opts.environment,
      awsSdkConnectionReuse: false,
      bundling: {
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: ESM_BANNER,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        externalModules: ['@aws-sdk/*'],
        tsconfig: path.join(PROJECT_ROOT, 'tsconfig.json'),
        forceDockerBundling: false,
        ...cfg.bundling,
      },
    });
    Validations.of(f).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        'Invoked only by an SQS event source mapping (synchronously); an async-invocation DLQ would never receive anything. Failures go to the queue redrive DLQ and to the DLQ envelopes the function writes.',
    });
    if (cfg.tracing === lambda.Tracing.ACTIVE) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions.',
      });
    } else {
      Validations.of(f).acknowledge({
        id: 'Serverless-LambdaTracing',
        reason: 'Tracing was turned off by the deployer through the `tracing` prop; logs and EMF metrics remain.',
      });
    }
    return f;
  }

  private createAlarmTopic(email: string | undefined): sns.Topic {
    // CloudWatch must encrypt with the topic's key, which an AWS managed key (aws/sns) does not allow.
    const key = new kms.Key(this, 'AlarmTopicKey', {
      enableKeyRotation: true,
      description: 'Encrypts the nango-metadata-sync alarm topic',
    });
    const cloudwatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    key.grant(cloudwatch, 'kms:Decrypt', 'kms:GenerateDataKey*');
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'nango-metadata-sync alarms',
      masterKey: key,
      enforceSSL: true,
    });
    // enforceSSL writes a topic policy, which replaces SNS's default one: allow CloudWatch explicitly.
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [cloudwatch],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    if (email) {
      topic.addSubscription(new subs.EmailSubscription(email));
      const subscription = topic.node.children.find((c) => c instanceof sns.Subscription);
      if (subscription) {
        Validations.of(subscription).acknowledge({
          id: 'Serverless-SNSRedrivePolicy',
          reason:
            'An e-mail subscription for alarm notifications: an undelivered alarm e-mail has nothing to replay, and the alarm state and history stay in CloudWatch.',
        });
      }
    }
    return topic;
  }

  private createAlarms(cfg: Resolved): Record<string, cw.Alarm> {
    const action = new cwActions.SnsAction(this.alarmTopic);
    const alarm = (id: string, description: string, metric: cw.IMetric, threshold: number): cw.Alarm => {
      const a = new cw.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      return a;
    };
    const oneMinuteMax = { period: Duration.minutes(1), statistic: cw.Stats.MAXIMUM };
    const fiveMinuteSum = { period: Duration.minutes(5), statistic: cw.Stats.SUM };
    return {
      IngressDlqNotEmpty: alarm(
        'IngressDlqNotEmpty',
        'Events that route could not turn into patches (invalid, or undeliverable) are waiting in the ingress DLQ: inspect with `npm run dlq -- list`.',
        this.ingressDlq.metricApproximateNumberOfMessagesVisible(oneMinuteMax),
        1,
      ),
      PatchesDlqNotEmpty: alarm(
        'PatchesDlqNotEmpty',
        'Patches that Nango refused or that ran out of attempts are waiting in the patches DLQ: inspect with `npm run dlq -- list`.',
        this.patchesDlq.metricApproximateNumberOfMessagesVisible(oneMinuteMax),
        1,
      ),
      IngressOldestMessageAge: alarm(
        'IngressOldestMessageAge',
        `The oldest ingress event has waited ${cfg.alarms.ingressOldestMessageAge.toHumanString()} or more: route is failing or throttled.`,
        this.ingressQueue.metricApproximateAgeOfOldestMessage(oneMinuteMax),
        cfg.alarms.ingressOldestMessageAge.toSeconds(),
      ),
      PatchesOldestMessageAge: alarm(
        'PatchesOldestMessageAge',
        `The oldest patch has waited ${cfg.alarms.patchesOldestMessageAge.toHumanString()} or more for Nango: rate limited, Nango failing, or apply throttled.`,
        this.patchesQueue.metricApproximateAgeOfOldestMessage(oneMinuteMax),
        cfg.alarms.patchesOldestMessageAge.toSeconds(),
      ),
      RouteErrors: alarm('RouteErrors', 'The route function failed invocations.', this.routeFunction.metricErrors(fiveMinuteSum), 1),
      RouteThrottles: alarm('RouteThrottles', 'The route function was throttled.', this.routeFunction.metricThrottles(fiveMinuteSum), 1),
      ApplyErrors: alarm('ApplyErrors', 'The apply function failed invocations.', this.applyFunction.metricErrors(fiveMinuteSum), 1),
      ApplyThrottles: alarm('ApplyThrottles', 'The apply function was throttled.', this.applyFunction.metricThrottles(fiveMinuteSum), 1),
    };
  }

  private createDashboard(cfg: Resolved): cw.Dashboard {
    const period = Duration.minutes(1);
    const custom = (metricName: string, label: string) =>
      new cw.Metric({
        namespace: cfg.metricsNamespace,
        metricName,
        dimensionsMap: { service: cfg.serviceName },
        statistic: cw.Stats.SUM,
        period,
        label,
      });
    const q = (queue: sqs.Queue, label: string) =>
      queue.metricApproximateNumberOfMessagesVisible({ period, label, statistic: cw.Stats.MAXIMUM });
    const fnMetrics = (f: lambda.IFunction, name: string, metric: 'Invocations' | 'Errors' | 'Throttles') =>
      f.metric(metric, { period, statistic: cw.Stats.SUM, label: `${name} ${metric.toLowerCase()}` });

    const dashboard = new cw.Dashboard(this, 'Dashboard', { dashboardName: cfg.dashboardName });
    dashboard.addWidgets(
      new cw.TextWidget({
        markdown:
          '# Nango metadata sync\nEvents -> ingress -> route -> patches.fifo -> apply -> Nango. DLQ entries: `npm run dlq -- list`; replay after fixing the cause: `npm run dlq -- replay`.',
        width: 24,
        height: 2,
      }),
    );
    dashboard.addWidgets(
      new cw.GraphWidget({
        title: 'Queue depth',
        left: [q(this.ingressQueue, 'ingress'), q(this.patchesQueue, 'patches')],
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Dead-letter queues',
        left: [q(this.ingressDlq, 'ingress DLQ'), q(this.patchesDlq, 'patches DLQ')],
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Age of oldest message (s)',
        left: [
          this.ingressQueue.metricApproximateAgeOfOldestMessage({ period, label: 'ingress', statistic: cw.Stats.MAXIMUM }),
          this.patchesQueue.metricApproximateAgeOfOldestMessage({ period, label: 'patches', statistic: cw.Stats.MAXIMUM }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cw.GraphWidget({
        title: 'Functions',
        left: (['Invocations', 'Errors', 'Throttles'] as const).flatMap((m) => [
          fnMetrics(this.routeFunction, 'route', m),
          fnMetrics(this.applyFunction, 'apply', m),
        ]),
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Duration p99 (ms)',
        left: [
          this.routeFunction.metricDuration({ period, statistic: cw.Stats.p(99), label: 'route' }),
          this.applyFunction.metricDuration({ period, statistic: cw.Stats.p(99), label: 'apply' }),
        ],
        width: 8,
      }),
      new cw.GraphWidget({
        title: 'Events and patches',
        left: [
          custom(MetricName.EventsReceived, 'events received'),
          custom(MetricName.EventsInvalid, 'events invalid'),
          custom(MetricName.PatchesEnqueued, 'patches enqueued'),
          custom(MetricName.PatchesApplied, 'patches applied'),
          custom(MetricName.PatchesCoalesced, 'patches coalesced'),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cw.GraphWidget({
        title: 'Nango latency (ms)',
        left: [
          new cw.Metric({
            namespace: cfg.metricsNamespace,
            metricName: MetricName.NangoLatency,
            dimensionsMap: { service: cfg.serviceName },
            statistic: cw.Stats.p(99),
            period,
            label: 'p99',
          }),
        ],
        width: 8,
      }),
      new cw.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 16, height: 6 }),
    );
    return dashboard;
  }
}

/** Props with every default filled in, after validation. */
interface Resolved {
  nangoHost: string;
  nangoEndpoint: NangoEndpoint;
  nangoTimeout: Duration;
  secretCacheTtl: Duration;
  catalog: Catalog;
  rule: { retryAttempts: number; maxEventAge: Duration; enabled: boolean };
  route: Required<RouteFunctionOptions>;
  apply: Required<ApplyFunctionOptions>;
  ingress: Required<QueueOptions>;
  patches: Required<QueueOptions>;
  dlqRetention: Duration;
  logRetention: logs.RetentionDays;
  logLevel: LogLevel;
  serviceName: string;
  metricsNamespace: string;
  tracing: lambda.Tracing;
  alarmEmail: string | undefined;
  alarms: { ingressOldestMessageAge: Duration; patchesOldestMessageAge: Duration };
  dashboardName: string | undefined;
  bundling: BundlingOptions;
}

/** Fill defaults and check every prop; throws one PropsError naming every problem. */
export function resolveProps(props: NangoMetadataSyncProps): Resolved {
  const c = new Checks();
  const route = {
    timeout: props.route?.timeout ?? Duration.seconds(30),
    memorySize: props.route?.memorySize ?? 512,
    batchSize: props.route?.batchSize ?? 50,
    maxBatchingWindow: props.route?.maxBatchingWindow ?? Duration.seconds(1),
    maxConcurrency: props.route?.maxConcurrency ?? 10,
    connectionsCacheTtl: props.route?.connectionsCacheTtl ?? Duration.seconds(60),
  };
  const apply = {
    // Long enough to wait out Nango's 60 s rate-limit window plus one request inside one invocation:
    // a hand-back instead would spend a receive on every message of the batch, and the last one parks it.
    timeout: props.apply?.timeout ?? Duration.seconds(90),
    memorySize: props.apply?.memorySize ?? 512,
    batchSize: props.apply?.batchSize ?? 10,
    maxConcurrency: props.apply?.maxConcurrency ?? 2,
    groupConcurrency: props.apply?.groupConcurrency ?? 8,
    ordering: props.apply?.ordering ?? 'event-time',
  };
  // Lambda's guidance: visibility >= 6x the function timeout (+ the batching window), so a throttled or retried batch is not redelivered while still running.
  const secondsUp = (d: Duration) => Math.ceil(d.toMilliseconds() / 1000);
  const minIngressVisibility = secondsUp(route.timeout) * 6 + secondsUp(route.maxBatchingWindow);
  const minPatchesVisibility = secondsUp(apply.timeout) * 6;
  const queue = (o: QueueOptions | undefined, minVisibility: number) => ({
    retentionPeriod: o?.retentionPeriod ?? FOUR_DAYS,
    visibilityTimeout: o?.visibilityTimeout ?? Duration.seconds(minVisibility),
    maxReceiveCount: o?.maxReceiveCount ?? 5,
  });
  const ingress = queue(props.ingressQueue, minIngressVisibility);
  const patches = queue(props.patchesQueue, minPatchesVisibility);
  const resolved: Resolved = {
    nangoHost: props.nangoHost ?? 'https://api.nango.dev',
    nangoEndpoint: props.nangoEndpoint ?? 'current',
    nangoTimeout: props.nangoTimeout ?? Duration.seconds(10),
    secretCacheTtl: props.secretCacheTtl ?? Duration.minutes(5),
    catalog: props.catalog ?? defaultCatalog,
    rule: {
      retryAttempts: props.rule?.retryAttempts ?? 185,
      maxEventAge: props.rule?.maxEventAge ?? Duration.hours(24),
      enabled: props.rule?.enabled ?? true,
    },
    route,
    apply,
    ingress,
    patches,
    dlqRetention: props.dlqRetentionPeriod ?? Duration.days(14),
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    logLevel: props.logLevel ?? 'INFO',
    serviceName: props.serviceName ?? 'nango-metadata-sync',
    metricsNamespace: props.metricsNamespace ?? 'NangoMetadataSync',
    tracing: props.tracing ?? lambda.Tracing.ACTIVE,
    alarmEmail: props.alarms?.email,
    alarms: {
      ingressOldestMessageAge: props.alarms?.ingressOldestMessageAge ?? Duration.minutes(10),
      patchesOldestMessageAge: props.alarms?.patchesOldestMessageAge ?? Duration.hours(1),
    },
    dashboardName: props.dashboardName,
    bundling: props.bundling ?? {},
  };

  if (!Token.isUnresolved(resolved.nangoHost) && !isHttpUrl(resolved.nangoHost)) {
    c.fail(`nangoHost must be an http(s) URL without credentials (got "${resolved.nangoHost}")`);
  }
  if (!ENDPOINTS.includes(resolved.nangoEndpoint)) {
    c.fail(`nangoEndpoint must be one of ${ENDPOINTS.join(', ')} (got "${String(resolved.nangoEndpoint)}")`);
  }
  c.exclusive(['secret', 'secretId'], [props.secret, props.secretId]);
  if (props.secretId !== undefined && !Token.isUnresolved(props.secretId)) {
    if (!SECRET_NAME_RE.test(props.secretId) && !SECRET_ARN_RE.test(props.secretId)) {
      c.fail(`secretId must be a Secrets Manager secret name or ARN (got "${props.secretId}")`);
    }
  }
  if (!resolved.nangoTimeout.isUnresolved() && resolved.nangoTimeout.toMilliseconds() < 100) {
    c.fail(`nangoTimeout must be at least 100 milliseconds (got ${resolved.nangoTimeout.toHumanString()})`);
  }
  for (const [name, fnTimeout] of [
    ['route', route.timeout],
    ['apply', apply.timeout],
  ] as const) {
    if (!fnTimeout.isUnresolved() && resolved.nangoTimeout.toMilliseconds() >= fnTimeout.toMilliseconds()) {
      c.fail(`nangoTimeout (${resolved.nangoTimeout.toHumanString()}) must be shorter than ${name}.timeout (${fnTimeout.toHumanString()})`);
    }
  }
  c.seconds('secretCacheTtl', resolved.secretCacheTtl, 0, 86_400);
  c.seconds('route.connectionsCacheTtl', route.connectionsCacheTtl, 0, 86_400);

  try {
    if (resolved.catalog.length === 0) c.fail('catalog must hold at least one event type');
    else {
      indexCatalog(resolved.catalog);
      const size = JSON.stringify(catalogEventPattern(resolved.catalog)).length;
      if (size > MAX_EVENT_PATTERN_LENGTH) {
        c.fail(
          `catalog: the rule pattern would be ${size} characters, over EventBridge's ${MAX_EVENT_PATTERN_LENGTH}; split the catalog over several constructs`,
        );
      }
    }
  } catch (e) {
    c.fail(`catalog: ${(e as Error).message}`);
  }

  c.int('rule.retryAttempts', resolved.rule.retryAttempts, 0, 185);
  c.seconds('rule.maxEventAge', resolved.rule.maxEventAge, 60, 86_400);

  c.seconds('route.timeout', route.timeout, 1, 900);
  c.seconds('apply.timeout', apply.timeout, 1, 900);
  c.int('route.memorySize', route.memorySize, 128, 10_240);
  c.int('apply.memorySize', apply.memorySize, 128, 10_240);
  c.int('route.batchSize', route.batchSize, 1, 10_000);
  c.seconds('route.maxBatchingWindow', route.maxBatchingWindow, 0, 300);
  if (route.batchSize > 10 && route.maxBatchingWindow.toMilliseconds() < 1000) {
    c.fail(`route.maxBatchingWindow must be at least 1 second when route.batchSize is above 10 (got batchSize ${route.batchSize})`);
  }
  c.int('apply.batchSize', apply.batchSize, 1, 10);
  c.int('route.maxConcurrency', route.maxConcurrency, 2, 1000);
  c.int('apply.maxConcurrency', apply.maxConcurrency, 2, 1000);
  c.int('apply.groupConcurrency', apply.groupConcurrency, 1, 100);
  if (!ORDERINGS.includes(apply.ordering))
    c.fail(`apply.ordering must be one of ${ORDERINGS.join(', ')} (got "${String(apply.ordering)}")`);

  const queues = [
    ['ingressQueue', ingress, minIngressVisibility, 'route.timeout x 6 + route.maxBatchingWindow'],
    ['patchesQueue', patches, minPatchesVisibility, 'apply.timeout x 6'],
  ] as const;
  for (const [name, q, minVisibility, rule] of queues) {
    c.seconds(`${name}.retentionPeriod`, q.retentionPeriod, 60, 1_209_600);
    c.seconds(`${name}.visibilityTimeout`, q.visibilityTimeout, 0, 43_200);
    c.int(`${name}.maxReceiveCount`, q.maxReceiveCount, 1, 1000);
    if (!q.visibilityTimeout.isUnresolved() && q.visibilityTimeout.toMilliseconds() < minVisibility * 1000) {
      c.fail(`${name}.visibilityTimeout must be at least ${rule} = ${minVisibility} seconds (got ${q.visibilityTimeout.toHumanString()})`);
    }
    if (!q.retentionPeriod.isUnresolved() && !resolved.dlqRetention.isUnresolved()) {
      if (resolved.dlqRetention.toMilliseconds() <= q.retentionPeriod.toMilliseconds()) {
        c.fail(
          `dlqRetentionPeriod (${resolved.dlqRetention.toHumanString()}) must be longer than ${name}.retentionPeriod (${q.retentionPeriod.toHumanString()}): SQS keeps a standard message's first enqueue time when it moves it`,
        );
      }
    }
  }
  c.seconds('dlqRetentionPeriod', resolved.dlqRetention, 60, 1_209_600);

  if (!LOG_LEVELS.includes(resolved.logLevel))
    c.fail(`logLevel must be one of ${LOG_LEVELS.join(', ')} (got "${String(resolved.logLevel)}")`);
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(resolved.serviceName)) {
    c.fail(`serviceName must be 1-100 letters, digits, '.', '_' or '-' (got "${resolved.serviceName}")`);
  }
  if (!/^[A-Za-z0-9.\-_/#:]{1,255}$/.test(resolved.metricsNamespace) || resolved.metricsNamespace.startsWith('AWS/')) {
    c.fail(`metricsNamespace must be a CloudWatch namespace not starting with "AWS/" (got "${resolved.metricsNamespace}")`);
  }
  c.exclusive(['alarms.email', 'alarms.topic'], [props.alarms?.email, props.alarms?.topic]);
  if (resolved.alarmEmail !== undefined && !Token.isUnresolved(resolved.alarmEmail) && !isEmail(resolved.alarmEmail)) {
    c.fail(`alarms.email must be an e-mail address (got "${resolved.alarmEmail}")`);
  }
  c.seconds('alarms.ingressOldestMessageAge', resolved.alarms.ingressOldestMessageAge, 60, 1_209_600);
  c.seconds('alarms.patchesOldestMessageAge', resolved.alarms.patchesOldestMessageAge, 60, 1_209_600);
  if (resolved.dashboardName !== undefined && !/^[A-Za-z0-9_-]{1,255}$/.test(resolved.dashboardName)) {
    c.fail(`dashboardName must be 1-255 letters, digits, '_' or '-' (got "${resolved.dashboardName}")`);
  }
  c.throwIfAny();
  return resolved;
}
