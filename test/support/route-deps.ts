/**
 * Route's dependencies over the local stand-ins, as the tests that call `routeRecords` directly
 * build them: the real DynamoDB store, connection index, Nango client and SQS queues.
 */
import { catalog, indexCatalog } from '#events/catalog';
import { HttpNangoClient } from '#commons/nango/http-client';
import { SqsQueues } from '#commons/queues';
import { ConnectionIndex } from '#commons/route/connections';
import type { RouteDeps } from '#commons/route/processor';
import { staticKeyProvider } from '#commons/secrets';
import type { DynamoStateStore } from '#commons/state/dynamodb';
import type { LocalSqs, PipelineQueues } from '../../local/standins/sqs.ts';

export function routeDeps(o: {
  state: DynamoStateStore;
  nangoUrl: string;
  secretKey: string;
  sqs: LocalSqs;
  queues: PipelineQueues;
  maxReceiveCount: number;
}): RouteDeps {
  const client = new HttpNangoClient({ host: o.nangoUrl, endpoint: 'current', keys: staticKeyProvider(o.secretKey), timeoutMs: 2_000 });
  return {
    catalog: indexCatalog(catalog),
    state: o.state,
    index: new ConnectionIndex(o.state, client, { ttlMs: 60_000, emptyTtlMs: 5_000, maxConnections: 100 }),
    queues: new SqsQueues(o.sqs.client()),
    syncQueueUrl: o.queues.syncUrl,
    ingressQueueUrl: o.queues.ingressUrl,
    ingressDlqUrl: o.queues.ingressDlqUrl,
    maxReceiveCount: o.maxReceiveCount,
    limits: { maxIntegrationsPerEvent: 25, maxFutureSkewMs: 300_000 },
  };
}
