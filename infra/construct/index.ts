/**
 * NangoMetadataSync: the whole version 2 pipeline as one reusable construct.
 *
 *   EventBridge rule (pattern from the catalog) / producers' SendMessage -> ingress -> route fn
 *   route: desired state in the state table -> one sync per connection on sync.fifo -> apply fn -> Nango
 *   Nango auth webhooks -> webhook fn (function URL) -> sync.fifo;  reconcile fn (schedule) -> sync.fifo
 *   failures: ingress-dlq (route, the rule's target), sync-dlq.fifo (apply)
 *
 * Every default lives in props.ts and is overridable; props are checked up front and every problem is
 * reported together. cdk-nag findings that do not apply are acknowledged next to the resource.
 */
import type * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import type * as cw from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sm from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { SettingName } from '#commons/config';
import type { CatalogEventPattern } from '../event-pattern.ts';
import { createDashboard } from './dashboard.ts';
import { acknowledgeEventSources, entryOf, functionEnvironment, nodeFunction } from './functions.ts';
import { createAlarms, createAlarmTopic } from './monitoring.ts';
import type { NangoMetadataSyncProps } from './props.ts';
import { PipelineQueues } from './queues.ts';
import { createReconcile } from './reconcile.ts';
import { createIngressRule } from './rule.ts';
import { grantSecretRead, resolveSecret } from './secrets.ts';
import { createStateTable, grantItems } from './table.ts';
import { settingVariables } from './settings.ts';
import { resolveProps } from './validate-props.ts';
import { createWebhook, webhookPathToken } from './webhook.ts';

export { ESM_BANNER, PROJECT_ROOT } from './functions.ts';
export { SUPPORTED_BUNDLING } from './function-code.ts';
export { type CatalogModule, checkCatalog, loadCatalog, resolveCatalogModule } from './catalog-module.ts';
export { catalogEventPattern, type CatalogEventPattern, patternPairs } from '../event-pattern.ts';
export * from '#events/define';
export * from './props.ts';
export { resolveProps, type Resolved } from './validate-props.ts';

const SQS_ONLY =
  'Invoked only by an SQS event source mapping (synchronously); an async-invocation DLQ would never receive anything. Failures go to the queue redrive DLQ and to the DLQ envelopes the function writes.';

export class NangoMetadataSync extends Construct {
  readonly ingressQueue: sqs.Queue;
  readonly ingressDlq: sqs.Queue;
  readonly syncQueue: sqs.Queue;
  readonly syncDlq: sqs.Queue;
  readonly stateTable: dynamodb.Table;
  readonly routeFunction: lambda.Function;
  readonly applyFunction: lambda.Function;
  readonly webhookFunction: lambda.Function;
  readonly webhookUrl: lambda.FunctionUrl;
  /** The URL to register in Nango: with the path token, and CloudFront's domain when it is in front. */
  readonly webhookEndpoint: string;
  /** Only with `webhook.cloudFront`. */
  readonly webhookDistribution?: cloudfront.Distribution;
  readonly reconcileFunction: lambda.Function;
  /** Undefined when `reconcile.schedule` is false. */
  readonly reconcileSchedule?: events.Rule;
  /** The sweep's minute tick; undefined when `reconcile.indexSweep` is false. */
  readonly sweepSchedule?: events.Rule;
  readonly sweepQueue: sqs.Queue;
  readonly sweepDlq: sqs.Queue;
  readonly eventBus: events.IEventBus;
  readonly rule: events.Rule;
  readonly eventPattern: CatalogEventPattern;
  readonly secret: sm.ISecret;
  readonly webhookSecret: sm.ISecret;
  readonly alarmTopic: sns.ITopic;
  readonly alarms: Readonly<Record<string, cw.Alarm>>;
  readonly dashboard: cw.Dashboard;
  private readonly queues: PipelineQueues;

  constructor(scope: Construct, id: string, props: NangoMetadataSyncProps) {
    super(scope, id);
    const cfg = resolveProps(props);

    // ---- storage: queues, state table, secrets ----------------------------------------------------
    this.queues = new PipelineQueues(this, cfg);
    const { ingress, ingressDlq, sync, syncDlq } = this.queues;
    this.ingressQueue = ingress;
    this.ingressDlq = ingressDlq;
    this.syncQueue = sync;
    this.syncDlq = syncDlq;
    this.stateTable = createStateTable(this, cfg);
    this.secret = resolveSecret(this, 'NangoSecret', {
      secret: props.secret,
      secretId: props.secretId,
      description: 'Nango secret key for nango-metadata-sync: a bare key, or JSON {"secretKey": "..."}. Fill it with put-secret-value.',
      noRotationReason:
        'The value is a Nango secret key issued in the Nango dashboard; it cannot be rotated by a Lambda here. Rotate it in Nango and put the new value; the functions read it again on 401.',
    });
    this.webhookSecret = resolveSecret(this, 'WebhookSecret', {
      secret: props.webhookSecret,
      secretId: props.webhookSecretId,
      description:
        'Nango webhook signing key for nango-metadata-sync (Environment settings in Nango): bare, or JSON {"signingKey": "..."}. Fill it with put-secret-value.',
      noRotationReason:
        "The value is Nango's webhook signing key, issued by Nango per environment; it cannot be rotated by a Lambda here. Rotate it in Nango and put the new value.",
    });

    // ---- functions: each reads exactly its FUNCTION_SETTINGS ----------------------------------------
    // Every prop-backed setting comes from the settings table; what follows is what the construct wires itself.
    const values: Partial<Record<SettingName, string>> = {
      ...settingVariables(cfg),
      NANGO_SECRET_ID: this.secret.secretFullArn ?? this.secret.secretArn,
      STATE_TABLE_NAME: this.stateTable.tableName,
      SYNC_QUEUE_URL: sync.queueUrl,
      SYNC_DLQ_URL: syncDlq.queueUrl,
      // Route sets a Retry-After as the visibility of its records on the queue it consumes; apply sends deadlines there.
      INGRESS_QUEUE_URL: ingress.queueUrl,
      INGRESS_DLQ_URL: ingressDlq.queueUrl,
      WEBHOOK_SECRET_ID: this.webhookSecret.secretFullArn ?? this.webhookSecret.secretArn,
      WEBHOOK_PATH_TOKEN: webhookPathToken(this, cfg),
    };
    // Route and apply park a transient failure themselves on the last receive: they must know the limit.
    this.routeFunction = nodeFunction(this, cfg, {
      name: 'Route',
      entry: entryOf(cfg, 'route'),
      description: 'Validates catalog events, keeps the desired state and enqueues one sync per connection',
      timeout: cfg.route.timeout,
      memorySize: cfg.route.memorySize,
      environment: functionEnvironment('route', { ...values, MAX_RECEIVE_COUNT: String(cfg.ingress.maxReceiveCount) }),
      noAsyncDlqReason: SQS_ONLY,
    });
    this.applyFunction = nodeFunction(this, cfg, {
      name: 'Apply',
      entry: entryOf(cfg, 'apply'),
      description: 'Sends each connection the keys its desired state holds and Nango lacks, in order per connection',
      timeout: cfg.apply.timeout,
      memorySize: cfg.apply.memorySize,
      environment: functionEnvironment('apply', { ...values, MAX_RECEIVE_COUNT: String(cfg.sync.maxReceiveCount) }),
      noAsyncDlqReason: SQS_ONLY,
    });
    const webhook = createWebhook(this, cfg, functionEnvironment('webhook', values));
    this.webhookFunction = webhook.fn;
    this.webhookUrl = webhook.url;
    this.webhookEndpoint = webhook.endpoint;
    this.webhookDistribution = webhook.distribution;
    // The sweep's queue is its own: its URL is known only once the function's queue exists.
    const reconcile = createReconcile(this, cfg, (queueUrl) => functionEnvironment('reconcile', { ...values, SWEEP_QUEUE_URL: queueUrl }));
    this.reconcileFunction = reconcile.fn;
    this.reconcileSchedule = reconcile.schedule;
    this.sweepSchedule = reconcile.sweepSchedule;
    this.sweepQueue = reconcile.sweepQueue;
    this.sweepDlq = reconcile.sweepDlq;

    this.routeFunction.addEventSource(
      new SqsEventSource(ingress, {
        batchSize: cfg.route.batchSize,
        maxBatchingWindow: cfg.route.maxBatchingWindow,
        maxConcurrency: cfg.route.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.applyFunction.addEventSource(
      new SqsEventSource(sync, { batchSize: cfg.apply.batchSize, maxConcurrency: cfg.apply.maxConcurrency, reportBatchItemFailures: true }),
    );
    acknowledgeEventSources(this.routeFunction);
    acknowledgeEventSources(this.applyFunction);
    acknowledgeEventSources(this.reconcileFunction);

    // ---- least privilege, one role per function (the event sources add consume on their queue) --------
    const q = this.queues;
    // Table access per item kind: TABLE_ACCESS in table.ts. The webhook has none.
    grantItems(this.stateTable, this.routeFunction, 'route');
    q.allowSend(sync, this.routeFunction);
    q.allowSend(ingressDlq, this.routeFunction);
    grantItems(this.stateTable, this.applyFunction, 'apply');
    q.allowSend(syncDlq, this.applyFunction);
    // A deferral's deadline travels, delayed, through the ingress queue (FIFO queues cannot delay one message).
    q.allowSend(ingress, this.applyFunction);
    // The webhook only enqueues a seed lookup: apply reads Nango and writes membership and indexes.
    q.allowSend(sync, this.webhookFunction);
    grantItems(this.stateTable, this.reconcileFunction, 'reconcile');
    q.allowSend(sync, this.reconcileFunction);
    for (const f of [this.routeFunction, this.applyFunction, this.reconcileFunction]) {
      grantSecretRead(this.secret, f, props.secretEncryptionKey);
    }
    grantSecretRead(this.webhookSecret, this.webhookFunction, props.webhookSecretEncryptionKey);

    // ---- EventBridge --------------------------------------------------------------------------------
    this.eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    const rule = createIngressRule(this, cfg, {
      eventBus: this.eventBus,
      ingress,
      deadLetterQueue: props.rule?.deadLetterQueue ?? ingressDlq,
    });
    this.rule = rule.rule;
    this.eventPattern = rule.eventPattern;

    // ---- who may send: the functions above, the rule, and principals given grantSend/grantReplay -----
    q.restrictSenders(ingress, this.rule.ruleArn);
    q.restrictSenders(ingressDlq, this.rule.ruleArn);
    q.restrictSenders(sync);
    q.restrictSenders(syncDlq);

    // ---- monitoring ---------------------------------------------------------------------------------
    this.alarmTopic = props.alarms?.topic ?? createAlarmTopic(this, cfg.alarmEmail);
    const parts = {
      topic: this.alarmTopic,
      ingress,
      ingressDlq,
      sync,
      syncDlq,
      functions: { Route: this.routeFunction, Apply: this.applyFunction, Webhook: this.webhookFunction, Reconcile: this.reconcileFunction },
      reconcileSchedule: this.reconcileSchedule,
      sweepDlq: this.sweepDlq,
      ...(cfg.reconcile.indexSweep === false ? {} : { indexSweep: cfg.reconcile.indexSweep }),
    };
    this.alarms = createAlarms(this, cfg, parts);
    this.dashboard = createDashboard(this, cfg, parts, Object.values(this.alarms));
  }

  /** Lets a producer SendMessage events straight to the ingress queue (IAM, and past the queue's Deny). */
  grantSend(grantee: iam.IGrantable): iam.Grant {
    return this.queues.allowSend(this.ingressQueue, grantee);
  }

  /**
   * What the replay tool needs: read and delete on both DLQs, SQS's own move back (StartMessageMoveTask),
   * and send to their source queues (IAM, and past those queues' Deny).
   */
  grantReplay(grantee: iam.IGrantable): void {
    // The sends first: a grantee they refuse (no ARN to except from the Deny) fails before any grant is added.
    this.queues.allowSend(this.ingressQueue, grantee);
    this.queues.allowSend(this.syncQueue, grantee);
    for (const dlq of [this.ingressDlq, this.syncDlq]) {
      dlq.grantConsumeMessages(grantee);
      dlq.grant(grantee, 'sqs:StartMessageMoveTask', 'sqs:ListMessageMoveTasks', 'sqs:CancelMessageMoveTask');
    }
  }

  /** Lets the DLQ tool purge both DLQs (PurgeQueue deletes every message: grant it on purpose). */
  grantPurge(grantee: iam.IGrantable): void {
    this.ingressDlq.grantPurge(grantee);
    this.syncDlq.grantPurge(grantee);
  }
}
