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
import { subjectRules } from '#events/catalog';
import { DynamoMembershipStore } from '#commons/state/membership';
import { deadlineFrom, dynamoClient, nangoFromConfig, queuesFromConfig, stateFromConfig } from '#commons/wiring';

let deps: ApplyDeps | undefined;

function init(): ApplyDeps {
  const c = loadConfig(applyConfigSchema);
  const nango = nangoFromConfig(c);
  const state = stateFromConfig(c);
  return {
    nango,
    state,
    queues: queuesFromConfig(),
    syncQueueUrl: c.SYNC_QUEUE_URL,
    syncDlqUrl: c.SYNC_DLQ_URL,
    maxReceiveCount: c.MAX_RECEIVE_COUNT,
    groupConcurrency: c.APPLY_GROUP_CONCURRENCY,
    maxDeferMs: c.APPLY_MAX_DEFER_SECONDS * 1000,
    tenancy: { nango, state, members: new DynamoMembershipStore(dynamoClient(), c.STATE_TABLE_NAME), ...subjectRules() },
  };
}

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  deps ??= init();
  try {
    const r = await applyRecords(event.Records, deps, deadlineFrom(context));
    return { batchItemFailures: r.failedRecordIds.map((itemIdentifier) => ({ itemIdentifier })) };
  } finally {
    metrics.publishStoredMetrics();
  }
};
