/**
 * The reconcile function and its schedule: it lists connections with their metadata, compares the
 * keys we own with the desired state and enqueues syncs for what drifted (Nango's own functions and
 * dashboard may replace metadata whole). Deployed even unscheduled, for the CLI.
 */
import { Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { entryOf, nodeFunction } from './functions.ts';
import type { Resolved } from './validate-props.ts';

export interface Reconcile {
  readonly fn: NodejsFunction;
  /** Undefined when `reconcile.schedule` is false. */
  readonly schedule?: events.Rule;
}

export function createReconcile(scope: Construct, cfg: Resolved, environment: Record<string, string>): Reconcile {
  const fn = nodeFunction(scope, cfg, {
    name: 'Reconcile',
    entry: entryOf(cfg, 'reconcile'),
    description: 'Compares Nango metadata with the desired state and enqueues syncs for what drifted',
    timeout: cfg.reconcile.timeout,
    memorySize: cfg.reconcile.memorySize,
    environment,
    noAsyncDlqReason:
      'Invoked by its schedule with an empty event: a failed run has nothing to keep, the next run repeats the whole comparison, and errors raise the ReconcileErrors alarm.',
  });
  // Lambda's own retries of an async invocation (2 by default) would rerun a failed walk twice more:
  // the next scheduled run repeats it anyway, and a CLI run is synchronous.
  fn.configureAsyncInvoke({ retryAttempts: 0 });
  Validations.of(fn.node.findChild('EventInvokeConfig')).acknowledge({
    id: 'Serverless-LambdaAsyncFailureDestination',
    reason:
      'A scheduled run carries an empty event: an on-failure destination would receive nothing to replay. A failed run raises the ReconcileErrors alarm and the next run repeats the walk.',
  });
  if (cfg.reconcile.schedule === false) return { fn };
  const schedule = new events.Rule(scope, 'ReconcileSchedule', {
    description: 'Runs nango-metadata-sync reconcile',
    schedule: events.Schedule.expression(cfg.reconcile.schedule),
  });
  // Not retried by EventBridge: a run covers every connection, and the next one comes on schedule.
  schedule.addTarget(new targets.LambdaFunction(fn, { retryAttempts: 0 }));
  Validations.of(schedule).acknowledge({
    id: 'Serverless-EventBusDLQ',
    reason:
      'A schedule tick carries no data: a dead-lettered tick would have nothing to replay. A failed delivery raises the ReconcileScheduleFailures alarm and the next tick runs reconcile again.',
  });
  return { fn, schedule };
}
