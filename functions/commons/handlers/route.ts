/**
 * Route: the ingress queue's consumer (and a direct EventBridge target). Validates each event
 * against the catalog, writes the desired state, and enqueues one sync per affected connection on
 * the sync FIFO queue (group = connection).
 *
 * Returns `batchItemFailures` naming only the records that failed transiently: SQS redelivers those
 * and deletes the rest. Invalid events are not failures: they are parked in the ingress DLQ with
 * their error. It throws only when it cannot start (bad configuration); then SQS retries the batch
 * and, past maxReceiveCount, its redrive parks the messages as the safety net. A direct EventBridge
 * invocation throws when its event failed transiently, so EventBridge's retry policy applies.
 */
import type { Context, EventBridgeEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type Catalog, indexCatalog } from '#events/define';
import { logger } from '#powertools/logger';
import { loadConfig, routeConfigSchema } from '#commons/config';
import { ConnectionIndex } from '#commons/route/connections';
import { routeRecords, type RouteDeps } from '#commons/route/processor';
import { recordFromEventBridge } from '#commons/sqs-record';
import { DynamoMembershipStore } from '#commons/state/membership';
import { DynamoUnmatchedStore, notesOncePerMinute } from '#commons/state/unmatched';
import { SWEEP_RUN } from '#commons/sweep/run';
import { deadlineFrom, dynamoClient, lazyNangoFromConfig, queuesFromConfig, stateFromConfig } from '#commons/wiring';
import { lambdaHandler } from './lambda-handler.ts';

function init(catalog: Catalog): RouteDeps {
  const c = loadConfig(routeConfigSchema);
  const state = stateFromConfig(c);
  const sweeps = new DynamoMembershipStore(dynamoClient(), c.STATE_TABLE_NAME);
  return {
    catalog: indexCatalog(catalog),
    state,
    index: new ConnectionIndex(state, lazyNangoFromConfig(c), {
      lastSweep: async () => (await sweeps.readRun(SWEEP_RUN))?.lastComplete?.startedAt,
      sweepFreshMs: 2 * c.INDEX_SWEEP_SECONDS * 1000,
      ttlMs: c.INDEX_TTL_SECONDS * 1000,
      emptyTtlMs: c.INDEX_EMPTY_TTL_SECONDS * 1000,
      maxConnections: c.MAX_CONNECTIONS_PER_SUBJECT,
    }),
    unmatched: notesOncePerMinute(new DynamoUnmatchedStore(dynamoClient(), c.STATE_TABLE_NAME), (e) =>
      logger.warn('a subject without a connection could not be noted for the daily check', { error: (e as Error).message }),
    ),
    queues: queuesFromConfig(),
    syncQueueUrl: c.SYNC_QUEUE_URL,
    ingressQueueUrl: c.INGRESS_QUEUE_URL,
    ingressDlqUrl: c.INGRESS_DLQ_URL,
    maxReceiveCount: c.MAX_RECEIVE_COUNT,
    limits: { maxIntegrationsPerEvent: c.MAX_INTEGRATIONS_PER_EVENT, maxFutureSkewMs: c.MAX_FUTURE_SKEW_SECONDS * 1000 },
  };
}

const isSqsEvent = (e: unknown): e is SQSEvent => Array.isArray((e as SQSEvent)?.Records);

export type RouteHandler = (event: SQSEvent | EventBridgeEvent<string, unknown>, context: Context) => Promise<SQSBatchResponse | undefined>;

/** The route function over `catalog`: configuration is read on the first invocation (a cold start). */
export const createRouteHandler = ({ catalog }: { catalog: Catalog }): RouteHandler => {
  indexCatalog(catalog);
  return lambdaHandler(
    () => init(catalog),
    async (event: SQSEvent | EventBridgeEvent<string, unknown>, deps, context): Promise<SQSBatchResponse | undefined> => {
      if (isSqsEvent(event)) {
        const r = await routeRecords(event.Records, deps, deadlineFrom(context));
        return { batchItemFailures: r.failedRecordIds.map((itemIdentifier) => ({ itemIdentifier })) };
      }
      const r = await routeRecords([recordFromEventBridge(event)], deps, deadlineFrom(context));
      if (r.failedRecordIds.length)
        throw new Error(`event ${(event as { id?: string }).id ?? ''} could not be routed; EventBridge will retry`);
      return undefined;
    },
  );
};
