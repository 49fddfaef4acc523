/**
 * The whole pipeline in one process, with no AWS account: fauxqs queues and dynalite on 127.0.0.1
 * (ingress, sync FIFO, both DLQs, redrive as deployed; the state table), the Secrets Manager
 * stand-in holding a UUID v4 key, the Nango stand-in seeded with connections (or a real Nango), the
 * webhook function behind a local URL that the stand-in calls when a connection is created, and two
 * local event sources invoking the real route and apply handlers as Lambda's SQS event source does.
 *
 * The handlers read their configuration from process.env once per cold start, as on Lambda, and
 * their clients are module singletons: so one pipeline per process (vitest runs each test file in
 * its own fork). A second start in the same process throws rather than run against stale URLs.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ENV } from '#commons/config';
import type { Catalog } from '#events/define';
import { HttpNangoClient } from '#commons/nango/http-client';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { DynamoMembershipStore } from '#commons/state/membership';
import { startEventSource, waitUntilDrained, type DrainOptions, type EventSource, type QueueCounts } from './event-source.ts';
import { captureFauxqsStores } from './fauxqs-store.ts';
import { type DlqMessage, eventIdOf, metadataFromNango, type ObservedSync, readDlqs, syncObserver } from './observe.ts';
import { localReconcile, type LocalReconcile } from './reconcile.ts';
import { startLocalDynamo } from './standins/dynamodb.ts';
import { startNangoStandin, type NangoStandin, type SeedConnection } from './standins/nango.ts';
import { startSecretsManagerStandin } from './standins/secrets-manager.ts';
import { type LocalSqs, startLocalSqs, type PipelineQueues } from './standins/sqs.ts';
import { processEnv, type LocalPipelineOptions, type StageOptions, stageDefaults } from './options.ts';
import { sweepTicks } from './sweep-schedule.ts';
import { startWebhookServer, type LocalWebhook } from './webhook-server.ts';

export type { DlqMessage, LocalPipelineOptions, ObservedSync, PipelineQueues, StageOptions };

export const DEFAULT_SECRET_ID = 'nango-metadata-sync/secret-key';
export const STATE_TABLE = 'nango-metadata-sync-state';
export const SEED_CONNECTIONS_FILE = new URL('./fixtures/connections.json', import.meta.url);

export interface SentEvent {
  /** SQS message id on the ingress queue. */
  messageId: string;
  /** The envelope's id, or the SQS message id when it has none (as route does). */
  eventId: string;
  body: string;
}

export interface LocalPipeline {
  sqs: SQSClient;
  queues: PipelineQueues;
  /** Injects SQS refusals (see LocalSqs.refuse). */
  refuseSqs: LocalSqs['refuse'];
  /** The stand-in, unless a real Nango is used. */
  nango?: NangoStandin;
  nangoUrl: string;
  /** The state table, read as the functions read it. */
  state: DynamoStateStore;
  /** The webhook function's local URL with its path token (the stand-in posts auth webhooks to it). */
  webhook: LocalWebhook;
  webhookSigningKey: string;
  secrets: Awaited<ReturnType<typeof startSecretsManagerStandin>>;
  secretId: string;
  /** The catalog the handlers run over. */
  catalog: Catalog;
  /** The handler environment this pipeline set (the Nango key itself is never in it). */
  env: Record<string, string>;
  route: EventSource;
  apply: EventSource;
  /** Sends events (objects are JSON-encoded, strings sent as they are) to the ingress queue. */
  send(events: readonly unknown[]): Promise<SentEvent[]>;
  drain(o?: DrainOptions): Promise<QueueCounts[]>;
  /** Both DLQs' messages, read without receiving them (oldest first). */
  dlq(): Promise<DlqMessage[]>;
  syncs(): ObservedSync[];
  /** The stored metadata of a connection (stand-in, or the list endpoint of the real Nango). */
  metadataOf(connectionId: string, providerConfigKey: string): Promise<Record<string, unknown> | null | undefined>;
  reconcile: LocalReconcile;
  /** One tick of the sweep's schedule (`repair`: the daily one): starts or resumes a run; drain() runs its pages. */
  sweep(repair?: boolean): Promise<Record<string, unknown>>;
  /** The sweep's schedule with its minute scaled to `everyMs`: a tick now and every `everyMs` until stop(). */
  scheduleSweep(everyMs: number): void;
  sweepSource: EventSource;
  /** Membership and sweep runs, read as the functions read them. */
  members: DynamoMembershipStore;
  stop(): Promise<void>;
}

let started = false;

export async function loadSeedConnections(file: URL | string = SEED_CONNECTIONS_FILE): Promise<SeedConnection[]> {
  return JSON.parse(await readFile(file, 'utf8')) as SeedConnection[];
}

type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined>;

export async function startLocalPipeline(o: LocalPipelineOptions = {}): Promise<LocalPipeline> {
  if (started) {
    throw new Error(
      'a local pipeline already ran in this process: the handlers keep their first configuration (as a warm Lambda does); start each pipeline in its own process',
    );
  }
  if (o.nangoUrl && !o.nangoSecretKey) throw new Error('nangoUrl needs nangoSecretKey');
  started = true;

  const route = stageDefaults(o.route);
  const apply = stageDefaults(o.apply);
  const maxReceiveCount = o.maxReceiveCount ?? 5;
  const secretId = o.secretId ?? DEFAULT_SECRET_ID;
  const secretKey = o.nangoSecretKey ?? randomUUID();
  const webhookSigningKey = o.webhookSigningKey ?? randomUUID();
  // The URL's secret last segment, as deployed: the stand-in (like Nango) is given the URL with it.
  const webhookPathToken = randomUUID();
  const catalog = o.catalog ?? (await import('../events/catalog.ts')).catalog;
  const runtime = await import('../functions/commons/runtime.ts');
  const stops: (() => Promise<unknown>)[] = [];
  const env = processEnv();
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    env.restore();
  };

  try {
    await captureFauxqsStores();
    const local = await startLocalSqs();
    stops.push(() => local.close());
    const queues = await local.createPipelineQueues({
      maxReceiveCount,
      ingressVisibilitySeconds: o.ingressVisibilitySeconds ?? Math.ceil(route.functionTimeoutMs / 1000),
      syncVisibilitySeconds: o.syncVisibilitySeconds ?? Math.ceil(apply.functionTimeoutMs / 1000),
      syncDeliveryDelaySeconds: o.syncDeliveryDelaySeconds ?? 0,
      ...(o.sweepVisibilitySeconds ? { sweepVisibilitySeconds: o.sweepVisibilitySeconds } : {}),
      ...(o.queuePrefix ? { prefix: o.queuePrefix } : {}),
    });
    const sqs = local.client();

    const dynamo = await startLocalDynamo();
    stops.push(() => dynamo.close());
    await dynamo.createStateTable(STATE_TABLE);

    const secrets = await startSecretsManagerStandin({ secrets: { [secretId]: secretKey } });
    stops.push(() => secrets.close());

    const handlerEnv: Record<string, string> = {
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ENDPOINT_URL_SQS: local.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      [ENV.NANGO_ENDPOINT]: o.endpoint ?? 'current',
      [ENV.NANGO_SECRET_ID]: secretId,
      [ENV.STATE_TABLE_NAME]: STATE_TABLE,
      [ENV.SYNC_QUEUE_URL]: queues.syncUrl,
      [ENV.SYNC_DLQ_URL]: queues.syncDlqUrl,
      [ENV.SWEEP_QUEUE_URL]: queues.sweepUrl,
      [ENV.INGRESS_QUEUE_URL]: queues.ingressUrl,
      [ENV.INGRESS_DLQ_URL]: queues.ingressDlqUrl,
      [ENV.MAX_RECEIVE_COUNT]: String(maxReceiveCount),
      [ENV.WEBHOOK_SIGNING_KEY]: webhookSigningKey,
      [ENV.WEBHOOK_PATH_TOKEN]: webhookPathToken,
      POWERTOOLS_SERVICE_NAME: process.env.POWERTOOLS_SERVICE_NAME ?? 'nango-metadata-sync',
      POWERTOOLS_METRICS_NAMESPACE: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'NangoMetadataSyncLocal',
      ...o.env,
    };
    env.setAll(handlerEnv);
    // The key goes through Secrets Manager as deployed; an inherited override would bypass it.
    env.set(ENV.NANGO_SECRET_KEY, undefined);

    const webhookHandler = runtime.createWebhookHandler({ catalog });
    const server = await startWebhookServer(
      webhookHandler,
      o.webhookReservedConcurrency ? { cap: { reservedConcurrency: o.webhookReservedConcurrency } } : {},
    );
    // The function URL's path carries the token the handler checks before anything else.
    const webhook: LocalWebhook = { ...server, url: `${server.url}/${webhookPathToken}` };
    stops.push(() => server.close());

    let nango: NangoStandin | undefined;
    let nangoUrl: string;
    if (o.nangoUrl) {
      nangoUrl = o.nangoUrl.replace(/\/+$/, '');
    } else {
      nango = await startNangoStandin({
        ...o.nango,
        secretKey,
        connections: o.connections ?? (await loadSeedConnections()),
        webhook: { url: webhook.url, signingKey: webhookSigningKey },
      });
      stops.push(() => nango!.close());
      nangoUrl = nango.url;
    }
    env.set(ENV.NANGO_HOST, nangoUrl);
    handlerEnv[ENV.NANGO_HOST] = nangoUrl;
    // What the harness itself asks Nango (reconcile, metadata of a real server) goes through the functions' client.
    const nangoClient = new HttpNangoClient({ host: nangoUrl, endpoint: 'current', keys: staticKeyProvider(secretKey), timeoutMs: 10_000 });

    const routeHandler = runtime.createRouteHandler({ catalog }) as SqsHandler;
    const applyHandler = runtime.createApplyHandler({ catalog }) as SqsHandler;
    const observer = syncObserver();
    const source = (name: string, url: string, handler: SqsHandler, s: StageOptions, fifo: boolean) =>
      startEventSource({
        sqs,
        queueUrl: url,
        handler,
        functionName: `nango-metadata-sync-${name}`,
        batchSize: s.batchSize,
        maxBatchingWindowMs: s.maxBatchingWindowMs,
        functionTimeoutMs: s.functionTimeoutMs,
        concurrency: s.concurrency,
        // startLocalSqs makes fauxqs receive several messages of one group in order, as AWS does.
        fifo,
        ...(s.crashAfter ? { crashAfter: s.crashAfter } : {}),
        onInvocation: (r) => {
          if (fifo) observer.observe(r);
          s.onInvocation?.(r);
        },
      });
    const routeSource = await source('route', queues.ingressUrl, routeHandler, route, false);
    stops.push(() => routeSource.stop());
    const applySource = await source('apply', queues.syncUrl, applyHandler, apply, true);
    stops.push(() => applySource.stop());
    // The sweep: its ticks are called by the test (sweep()), its pages by an event source of one page at a time.
    const sweepHandler = runtime.createSweepHandler({ catalog });
    const sweepSource = await source(
      'sweep',
      queues.sweepUrl,
      sweepHandler as SqsHandler,
      stageDefaults({ batchSize: 1, concurrency: 1, functionTimeoutMs: (o.sweepVisibilitySeconds ?? 60) * 1_000, ...o.sweep }),
      false,
    );
    stops.push(() => sweepSource.stop());
    const ticks = sweepTicks(sweepHandler as Parameters<typeof sweepTicks>[0]);
    // Event sources stop first (reverse order): no handler runs against a closed queue or stand-in.

    const state = new DynamoStateStore(dynamo.client(), STATE_TABLE);
    const members = new DynamoMembershipStore(dynamo.client(), STATE_TABLE);
    const send = async (events: readonly unknown[]): Promise<SentEvent[]> => {
      const out: SentEvent[] = [];
      for (let i = 0; i < events.length; i += 10) {
        const chunk = events.slice(i, i + 10).map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
        const res = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queues.ingressUrl,
            Entries: chunk.map((body, j) => ({ Id: String(j), MessageBody: body })),
          }),
        );
        if (res.Failed?.length)
          throw new Error(`ingress refused ${res.Failed.length} event(s): ${res.Failed.map((f) => f.Message).join('; ')}`);
        for (const ok of res.Successful ?? []) {
          const body = chunk[Number(ok.Id)]!;
          out.push({ messageId: ok.MessageId!, eventId: eventIdOf(body) ?? ok.MessageId!, body });
        }
      }
      return out;
    };

    let stopping: Promise<void> | undefined;
    return {
      sqs,
      queues,
      refuseSqs: (fn) => local.refuse(fn),
      ...(nango ? { nango } : {}),
      nangoUrl,
      state,
      webhook,
      webhookSigningKey,
      catalog,
      secrets,
      secretId,
      env: handlerEnv,
      route: routeSource,
      apply: applySource,
      send,
      drain: async (d) => {
        await nango?.webhooksSettled();
        return waitUntilDrained(sqs, [queues.ingressUrl, queues.syncUrl, queues.sweepUrl], d);
      },
      sweep: ticks.sweep,
      // Stopped before the event sources (stops run in reverse): no tick sends to a closed queue.
      scheduleSweep: (everyMs) => void stops.push(ticks.schedule(everyMs)),
      sweepSource,
      members,
      dlq: async () => readDlqs(queues),
      syncs: observer.syncs,
      metadataOf: (connectionId, providerConfigKey) =>
        nango
          ? Promise.resolve(nango.metadataOf(connectionId, providerConfigKey))
          : metadataFromNango(nangoClient, connectionId, providerConfigKey),
      reconcile: localReconcile({ nango: nangoClient, state, sqs, syncQueueUrl: queues.syncUrl, catalog }),
      stop: () => (stopping ??= stopAll()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
