/**
 * The sweep (reconcile) function, its page queue and DLQ, and its schedules: a tick every minute
 * starts a listing of every connection each `indexSweep` (membership, indexes, seeds), and the daily
 * `schedule` asks for drift repair. One page per invocation, chained through the page queue.
 * Deployed even unscheduled, for the CLI.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type { Construct } from 'constructs';
import { entryOf, nodeFunction } from './functions.ts';
import { SWEEP_QUEUE_RETENTION } from './props.ts';
import type { Resolved } from './validate-props.ts';

export interface Reconcile {
  readonly fn: lambda.Function;
  /** Undefined when `reconcile.schedule` is false. */
  readonly schedule?: events.Rule;
  /** The minute tick; undefined when `reconcile.indexSweep` is false. */
  readonly sweepSchedule?: events.Rule;
  readonly sweepQueue: sqs.Queue;
  readonly sweepDlq: sqs.Queue;
}

/** The sweep's page queue (standard: pages are chained one at a time, a lease orders them) and its DLQ. */
function sweepQueues(scope: Construct, cfg: Resolved) {
  const encrypted = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true } as const;
  const sweepDlq = new sqs.Queue(scope, 'SweepDlq', {
    ...encrypted,
    retentionPeriod: cfg.dlqRetention,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  Validations.of(sweepDlq).acknowledge({
    id: 'Serverless-SQSRedrivePolicy',
    reason: "This queue is itself a dead-letter queue: a parked page is resumed by the sweep's next tick, not redriven.",
  });
  const sweepQueue = new sqs.Queue(scope, 'SweepQueue', {
    ...encrypted,
    retentionPeriod: SWEEP_QUEUE_RETENTION,
    visibilityTimeout: Duration.seconds(Math.ceil(cfg.reconcile.timeout.toSeconds()) * 6),
    deadLetterQueue: { queue: sweepDlq, maxReceiveCount: 3 },
  });
  return { sweepQueue, sweepDlq };
}

export function createReconcile(
  scope: Construct,
  cfg: Resolved,
  environmentFor: (sweepQueueUrl: string) => Record<string, string>,
): Reconcile {
  const { sweepQueue, sweepDlq } = sweepQueues(scope, cfg);
  const environment = environmentFor(sweepQueue.queueUrl);
  const fn = nodeFunction(scope, cfg, {
    name: 'Reconcile',
    entry: entryOf(cfg, 'reconcile'),
    description:
      'Sweeps Nango connections page by page: keeps the connection index true, seeds new or re-tagged connections, repairs drift daily',
    timeout: cfg.reconcile.timeout,
    memorySize: cfg.reconcile.memorySize,
    environment,
    noAsyncDlqReason:
      'Invoked by its schedules with a tick and by its page queue (whose DLQ holds failed pages): a failed tick has nothing to keep, the next one resumes the run, and errors raise the ReconcileErrors alarm.',
  });
  // Lambda's own retries of an async invocation (2 by default) would run a failed tick twice more:
  // the next tick, a minute later, resumes the run anyway, and a CLI run is synchronous.
  fn.configureAsyncInvoke({ retryAttempts: 0 });
  Validations.of(fn.node.findChild('EventInvokeConfig')).acknowledge({
    id: 'Serverless-LambdaAsyncFailureDestination',
    reason:
      'A scheduled tick carries no data: an on-failure destination would receive nothing to replay. A failed tick raises the ReconcileErrors alarm and the next tick starts or resumes the run.',
  });
  // One page per invocation; two at most at once (SQS's minimum), though a run's lease lets one work.
  fn.addEventSource(new SqsEventSource(sweepQueue, { batchSize: 1, maxConcurrency: 2, reportBatchItemFailures: true }));
  sweepQueue.grantSendMessages(fn);
  const tickRule = (id: string, description: string, expression: string, sweep: 'tick' | 'repair') => {
    const rule = new events.Rule(scope, id, { description, schedule: events.Schedule.expression(expression) });
    // Not retried by EventBridge: the next tick comes on schedule and resumes whatever stopped.
    rule.addTarget(new targets.LambdaFunction(fn, { retryAttempts: 0, event: events.RuleTargetInput.fromObject({ sweep }) }));
    Validations.of(rule).acknowledge({
      id: 'Serverless-EventBusDLQ',
      reason:
        'A schedule tick carries no data: a dead-lettered tick would have nothing to replay. A failed delivery raises an alarm and the next tick starts or resumes the run.',
    });
    return rule;
  };
  const sweepSchedule =
    cfg.reconcile.indexSweep === false
      ? undefined
      : tickRule(
          'SweepSchedule',
          'Ticks the nango-metadata-sync sweep (starts a run every indexSweep, resumes a stalled one)',
          'rate(1 minute)',
          'tick',
        );
  const schedule =
    cfg.reconcile.schedule === false
      ? undefined
      : tickRule('ReconcileSchedule', 'Asks the nango-metadata-sync sweep for a run with drift repair', cfg.reconcile.schedule, 'repair');
  return { fn, sweepQueue, sweepDlq, ...(schedule ? { schedule } : {}), ...(sweepSchedule ? { sweepSchedule } : {}) };
}
