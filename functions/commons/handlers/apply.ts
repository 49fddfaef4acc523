/**
 * Apply: the sync FIFO queue's consumer. For each connection (message group) it sends the keys of
 * the desired state the connection lacks, in one PATCH, and records what it sent.
 *
 * Returns `batchItemFailures` naming the records SQS must redeliver: a group that failed transiently
 * (all its records, in FIFO order). Records not named are done: applied, nothing to send, or parked
 * in the sync DLQ with Nango's error. It throws only when it cannot start (bad configuration); SQS
 * then retries the batch and its redrive is the safety net.
 */
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger } from '#powertools/logger';
import { metrics } from '#powertools/metrics';
import { applyConfigSchema, loadConfig } from '#commons/config';
import { applyRecords, type ApplyDeps } from '#commons/apply/processor';
import { deadlineFrom, nangoFromConfig, queuesFromConfig, stateFromConfig } from '#commons/wiring';
import type { Catalog } from '#events/define';

function init(): ApplyDeps {
  const c = loadConfig(applyConfigSchema);
  return {
    nango: nangoFromConfig(c),
    state: stateFromConfig(c),
    queues: queuesFromConfig(),
    syncQueueUrl: c.SYNC_QUEUE_URL,
    syncDlqUrl: c.SYNC_DLQ_URL,
    maxReceiveCount: c.MAX_RECEIVE_COUNT,
    groupConcurrency: c.APPLY_GROUP_CONCURRENCY,
    maxDeferMs: c.APPLY_MAX_DEFER_SECONDS * 1000,
    deadlineQueueUrl: c.INGRESS_QUEUE_URL,
  };
}

export type ApplyHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** The apply function. It takes the catalog like the others, so every entry is built the same way (it reads none of it yet). */
export const createApplyHandler = (_options: { catalog?: Catalog } = {}): ApplyHandler => {
  let deps: ApplyDeps | undefined;
  return async (event, context) => {
    logger.addContext(context);
    deps ??= init();
    try {
      const r = await applyRecords(event.Records, deps, deadlineFrom(context));
      return { batchItemFailures: r.failedRecordIds.map((itemIdentifier) => ({ itemIdentifier })) };
    } finally {
      metrics.publishStoredMetrics();
    }
  };
};
