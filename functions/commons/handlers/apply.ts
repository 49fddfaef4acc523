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
import { applyConfigSchema, loadConfig } from '#commons/config';
import { applyRecords, type ApplyDeps } from '#commons/apply/processor';
import { DynamoMembershipStore } from '#commons/state/membership';
import { nangoFromConfig } from '#commons/nango/from-config';
import { deadlineFrom, dynamoClient, queuesFromConfig, stateFromConfig } from '#commons/wiring';
import { type Catalog, subjectRules } from '#events/define';
import { lambdaHandler } from './lambda-handler.ts';

function init(catalog: Catalog): ApplyDeps {
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
    deadlineQueueUrl: c.INGRESS_QUEUE_URL,
    tenancy: { nango, state, members: new DynamoMembershipStore(dynamoClient(), c.STATE_TABLE_NAME), ...subjectRules(catalog) },
  };
}

export type ApplyHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** The apply function over `catalog` (its subject rules tell a looked-up connection's subjects). */
export const createApplyHandler = ({ catalog }: { catalog: Catalog }): ApplyHandler =>
  lambdaHandler(
    () => init(catalog),
    async (event: SQSEvent, deps, context) => {
      const r = await applyRecords(event.Records, deps, deadlineFrom(context));
      return { batchItemFailures: r.failedRecordIds.map((itemIdentifier) => ({ itemIdentifier })) };
    },
  );
