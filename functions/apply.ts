/**
 * Apply: the patches FIFO queue's consumer. For each connection (message group), in order, it
 * coalesces the patches and sends one PATCH to Nango's metadata endpoint.
 *
 * Returns `batchItemFailures` naming the records SQS must redeliver: a group's first message that
 * failed transiently and every later message of that group (FIFO order). Records not named are
 * done — applied, or parked in the patches DLQ with Nango's error. It throws only when it cannot
 * start (bad configuration); SQS then retries the batch and its redrive is the safety net.
 */
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger } from '#powertools/logger';
import { metrics } from '#powertools/metrics';
import { applyConfigSchema, loadConfig } from '#commons/config';
import { applyRecords, type ApplyDeps } from '#commons/apply/processor';
import { deadlineFrom, nangoFromConfig, queuesFromConfig } from '#commons/wiring';

let deps: ApplyDeps | undefined;

function init(): ApplyDeps {
  const c = loadConfig(applyConfigSchema);
  return {
    nango: nangoFromConfig(c),
    queues: queuesFromConfig(),
    patchesQueueUrl: c.PATCHES_QUEUE_URL,
    patchesDlqUrl: c.PATCHES_DLQ_URL,
    maxReceiveCount: c.MAX_RECEIVE_COUNT,
    groupConcurrency: c.APPLY_GROUP_CONCURRENCY,
    ordering: c.ORDERING,
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
