/**
 * Route: the ingress queue's consumer (and a direct EventBridge target). Validates each event
 * against the catalog, resolves its target connections, and enqueues one patch per connection on
 * the patches FIFO queue (group = connection).
 *
 * Returns `batchItemFailures` naming only the records whose sends failed: SQS redelivers those and
 * deletes the rest. Invalid events are not failures: they are parked in the ingress DLQ with their
 * error. It throws only when it cannot start (bad configuration) — then SQS retries the whole batch
 * and, past maxReceiveCount, its redrive parks the messages as the safety net. A direct EventBridge
 * invocation throws when its send fails, so EventBridge's retry policy applies.
 */
import type { Context, EventBridgeEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { catalog, indexCatalog } from '#events/catalog';
import { logger } from '#powertools/logger';
import { metrics } from '#powertools/metrics';
import { loadConfig, routeConfigSchema } from '#commons/config';
import { recordFromEventBridge, routeRecords, type RouteDeps } from '#commons/route/processor';
import { TargetResolver } from '#commons/targets';
import { deadlineFrom, nangoFromConfig, queuesFromConfig } from '#commons/wiring';

let deps: RouteDeps | undefined;

function init(): RouteDeps {
  const c = loadConfig(routeConfigSchema);
  return {
    catalog: indexCatalog(catalog),
    targets: new TargetResolver(nangoFromConfig(c), c.CONNECTIONS_CACHE_TTL_SECONDS * 1000),
    queues: queuesFromConfig(),
    patchesQueueUrl: c.PATCHES_QUEUE_URL,
    ingressDlqUrl: c.INGRESS_DLQ_URL,
    maxReceiveCount: c.MAX_RECEIVE_COUNT,
  };
}

const isSqsEvent = (e: unknown): e is SQSEvent => Array.isArray((e as SQSEvent)?.Records);

export const handler = async (event: SQSEvent | EventBridgeEvent<string, unknown>, context: Context): Promise<SQSBatchResponse | void> => {
  logger.addContext(context);
  deps ??= init();
  try {
    if (isSqsEvent(event)) {
      const r = await routeRecords(event.Records, deps, deadlineFrom(context));
      return { batchItemFailures: r.failedRecordIds.map((itemIdentifier) => ({ itemIdentifier })) };
    }
    const r = await routeRecords([recordFromEventBridge(event)], deps, deadlineFrom(context));
    if (r.failedRecordIds.length)
      throw new Error(`event ${(event as { id?: string }).id ?? ''} could not be enqueued; EventBridge will retry`);
  } finally {
    metrics.publishStoredMetrics();
  }
};
