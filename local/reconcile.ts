/** Reconcile against the local pipeline (or any Nango, table and queue it is pointed at), with the production code. */
import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { type Catalog, subjectRules } from '#events/define';
import { defaultOf } from '#commons/config';
import type { NangoPort } from '#commons/nango/port';
import { SqsQueues } from '#commons/queues';
import { reconcile, type ReconcileOptions, type ReconcileReport } from '#commons/reconcile/run';
import type { StatePort } from '#commons/state/port';

export type LocalReconcile = (
  o?: Partial<Omit<ReconcileOptions, 'deadline' | 'runId'>> & { timeoutMs?: number },
) => Promise<ReconcileReport>;

export function localReconcile(c: {
  nango: Pick<NangoPort, 'listConnections'>;
  state: StatePort;
  sqs: SQSClient;
  syncQueueUrl: string;
  catalog: Catalog;
}): LocalReconcile {
  const deps = {
    nango: c.nango,
    state: c.state,
    queues: new SqsQueues(c.sqs),
    syncQueueUrl: c.syncQueueUrl,
    ...subjectRules(c.catalog),
    maxConnectionsPerSubject: defaultOf('MAX_CONNECTIONS_PER_SUBJECT'),
  };
  return (o = {}) => reconcile(deps, { dryRun: false, ...o, deadline: Date.now() + (o.timeoutMs ?? 120_000), runId: randomUUID() });
}
