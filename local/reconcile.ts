/** Reconcile against the local pipeline (or any Nango, table and queue it is pointed at), with the production code. */
import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { catalog, subjectTagKeySets, usesConnectionIdSubjects } from '#events/catalog';
import { defaultOf } from '#commons/config';
import { HttpNangoClient } from '#commons/nango/http-client';
import { SqsQueues } from '#commons/queues';
import { reconcile, type ReconcileOptions, type ReconcileReport } from '#commons/reconcile/run';
import { staticKeyProvider } from '#commons/secrets';
import type { StatePort } from '#commons/state/port';

export type LocalReconcile = (
  o?: Partial<Omit<ReconcileOptions, 'deadline' | 'runId'>> & { timeoutMs?: number },
) => Promise<ReconcileReport>;

export function localReconcile(c: {
  nangoUrl: string;
  secretKey: string;
  state: StatePort;
  sqs: SQSClient;
  syncQueueUrl: string;
}): LocalReconcile {
  const nango = new HttpNangoClient({ host: c.nangoUrl, endpoint: 'current', keys: staticKeyProvider(c.secretKey), timeoutMs: 10_000 });
  const deps = {
    nango,
    state: c.state,
    queues: new SqsQueues(c.sqs),
    syncQueueUrl: c.syncQueueUrl,
    tagKeySets: subjectTagKeySets(catalog),
    byConnectionId: usesConnectionIdSubjects(catalog),
    maxConnectionsPerSubject: defaultOf('MAX_CONNECTIONS_PER_SUBJECT'),
  };
  return (o = {}) => reconcile(deps, { dryRun: false, ...o, deadline: Date.now() + (o.timeoutMs ?? 120_000), runId: randomUUID() });
}
