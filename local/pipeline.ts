/**
 * The whole pipeline in one process, with no AWS account: fauxqs queues on 127.0.0.1 (ingress,
 * patches FIFO, both DLQs, redrive as deployed), the Secrets Manager stand-in holding a UUID v4 key,
 * the Nango stand-in seeded with connections (or a real Nango), and two local event sources invoking
 * the real route and apply handlers the way Lambda's SQS event source does.
 *
 * The handlers read their configuration from process.env once per cold start, as on Lambda, and
 * their SQS client is a module singleton: so one pipeline per process (vitest runs each test file in
 * its own fork). A second start in the same process throws rather than run against stale URLs.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parseEnvelope, type DlqEnvelope } from '#commons/dlq-envelope';
import { patchMessageSchema, type PatchMessage } from '#commons/patch-message';
import { startLocalSqs, type PipelineQueues } from './standins/sqs.ts';
import { startSecretsManagerStandin } from './standins/secrets-manager.ts';
import { startNangoStandin, type NangoStandin, type NangoStandinOptions, type SeedConnection } from './standins/nango.ts';
import {
  startEventSource,
  waitUntilDrained,
  type DrainOptions,
  type EventSource,
  type InvocationInfo,
  type InvocationResult,
  type QueueCounts,
} from './event-source.ts';
import { captureFauxqsStores, peekQueue } from './fauxqs-store.ts';

export const DEFAULT_SECRET_ID = 'nango-metadata-sync/secret-key';
export const SEED_CONNECTIONS_FILE = new URL('./fixtures/connections.json', import.meta.url);

export interface StageOptions {
  batchSize: number;
  maxBatchingWindowMs: number;
  functionTimeoutMs: number;
  concurrency: number;
  crashAfter?: (info: InvocationInfo) => boolean | number;
  onInvocation?: (r: InvocationResult) => void;
}

export interface LocalPipelineOptions {
  /** Use this Nango instead of the stand-in (with nangoSecretKey). */
  nangoUrl?: string;
  nangoSecretKey?: string;
  /** Stand-in options (latency, rate limit, faults, race mode...). */
  nango?: Omit<NangoStandinOptions, 'secretKey' | 'connections'>;
  /** Stand-in connections; default local/fixtures/connections.json. */
  connections?: SeedConnection[];
  endpoint?: 'current' | 'legacy';
  /** Redrive limit of both source queues, and the apply stage's MAX_RECEIVE_COUNT. Default 5. */
  maxReceiveCount?: number;
  /** Default: the stage's function timeout (AWS requires at least that). */
  ingressVisibilitySeconds?: number;
  patchesVisibilitySeconds?: number;
  route?: Partial<StageOptions>;
  apply?: Partial<StageOptions>;
  queuePrefix?: string;
  secretId?: string;
  /** Extra handler environment (e.g. APPLY_GROUP_CONCURRENCY, NANGO_TIMEOUT_MS). */
  env?: Record<string, string>;
}

export type { PipelineQueues };

export interface SentEvent {
  /** SQS message id on the ingress queue. */
  messageId: string;
  /** The envelope's id, or the SQS message id when it has none (as route does). */
  eventId: string;
  body: string;
}

/** One patch message as the apply stage saw it. */
export interface ObservedPatch {
  messageId: string;
  body: string;
  /** Undefined when the body is not a valid patch message. */
  message?: PatchMessage;
  deliveries: number;
  /** Deleted from the patches queue after an invocation (applied, or parked in the DLQ by apply). */
  deleted: boolean;
}

export interface DlqMessage {
  queue: 'ingress-dlq' | 'patches-dlq';
  messageId: string;
  body: string;
  sentTimestamp: number;
  attributes: Record<string, string>;
  /** Undefined for a bare message SQS's redrive moved (or anything else that is not an envelope). */
  envelope?: DlqEnvelope;
}

export interface LocalPipeline {
  sqs: SQSClient;
  queues: PipelineQueues;
  /** The stand-in, unless a real Nango is used. */
  nango?: NangoStandin;
  nangoUrl: string;
  secrets: Awaited<ReturnType<typeof startSecretsManagerStandin>>;
  secretId: string;
  /** The handler environment this pipeline set (the key itself is never in it). */
  env: Record<string, string>;
  route: EventSource;
  apply: EventSource;
  /** Sends events (objects are JSON-encoded, strings sent as they are) to the ingress queue. */
  send(events: readonly unknown[]): Promise<SentEvent[]>;
  drain(o?: DrainOptions): Promise<QueueCounts[]>;
  /** Both DLQs' messages, read without receiving them (oldest first). */
  dlq(): Promise<DlqMessage[]>;
  patches(): ObservedPatch[];
  /** The stored metadata of a connection (stand-in, or GET from the real Nango). */
  metadataOf(connectionId: string, providerConfigKey: string): Promise<Record<string, unknown> | null | undefined>;
  stop(): Promise<void>;
}

let started = false;

export async function loadSeedConnections(file: URL | string = SEED_CONNECTIONS_FILE): Promise<SeedConnection[]> {
  return JSON.parse(await readFile(file, 'utf8')) as SeedConnection[];
}

type Handler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export async function startLocalPipeline(o: LocalPipelineOptions = {}): Promise<LocalPipeline> {
  if (started) {
    throw new Error(
      'a local pipeline already ran in this process: the handlers keep their first configuration (as a warm Lambda does); start each pipeline in its own process',
    );
  }
  if (o.nangoUrl && !o.nangoSecretKey) throw new Error('nangoUrl needs nangoSecretKey');
  started = true;

  const route: StageOptions = { batchSize: 10, maxBatchingWindowMs: 0, functionTimeoutMs: 10_000, concurrency: 2, ...o.route };
  const apply: StageOptions = { batchSize: 10, maxBatchingWindowMs: 0, functionTimeoutMs: 10_000, concurrency: 2, ...o.apply };
  const maxReceiveCount = o.maxReceiveCount ?? 5;
  const secretId = o.secretId ?? DEFAULT_SECRET_ID;
  const secretKey = o.nangoSecretKey ?? randomUUID();
  const stops: (() => Promise<unknown>)[] = [];
  const savedEnv = new Map<string, string | undefined>();
  const setEnv = (k: string, v: string | undefined) => {
    if (!savedEnv.has(k)) savedEnv.set(k, process.env[k]);
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  };
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    for (const [k, v] of savedEnv) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };

  try {
    await captureFauxqsStores();
    const local = await startLocalSqs();
    stops.push(() => local.close());
    const queues: PipelineQueues = await local.createPipelineQueues({
      maxReceiveCount,
      ingressVisibilitySeconds: o.ingressVisibilitySeconds ?? Math.ceil(route.functionTimeoutMs / 1000),
      patchesVisibilitySeconds: o.patchesVisibilitySeconds ?? Math.ceil(apply.functionTimeoutMs / 1000),
      ...(o.queuePrefix ? { prefix: o.queuePrefix } : {}),
    });
    const sqs = local.client();

    const secrets = await startSecretsManagerStandin({ secrets: { [secretId]: secretKey } });
    stops.push(() => secrets.close());

    let nango: NangoStandin | undefined;
    let nangoUrl: string;
    if (o.nangoUrl) {
      nangoUrl = o.nangoUrl.replace(/\/+$/, '');
    } else {
      nango = await startNangoStandin({ ...o.nango, secretKey, connections: o.connections ?? (await loadSeedConnections()) });
      stops.push(() => nango!.close());
      nangoUrl = nango.url;
    }

    const env: Record<string, string> = {
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ENDPOINT_URL_SQS: local.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      NANGO_HOST: nangoUrl,
      NANGO_ENDPOINT: o.endpoint ?? 'current',
      NANGO_SECRET_ID: secretId,
      PATCHES_QUEUE_URL: queues.patchesUrl,
      INGRESS_DLQ_URL: queues.ingressDlqUrl,
      PATCHES_DLQ_URL: queues.patchesDlqUrl,
      MAX_RECEIVE_COUNT: String(maxReceiveCount),
      POWERTOOLS_SERVICE_NAME: process.env.POWERTOOLS_SERVICE_NAME ?? 'nango-metadata-sync',
      POWERTOOLS_METRICS_NAMESPACE: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'NangoMetadataSyncLocal',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...o.env,
    };
    for (const [k, v] of Object.entries(env)) setEnv(k, v);
    // Never reach AWS: loopback endpoints, and placeholder credentials when none are set.
    if (!process.env.AWS_ACCESS_KEY_ID) {
      setEnv('AWS_ACCESS_KEY_ID', 'local');
      setEnv('AWS_SECRET_ACCESS_KEY', 'local');
      setEnv('AWS_SESSION_TOKEN', undefined);
    }
    // The key goes through Secrets Manager as deployed; an inherited override would bypass it.
    setEnv('NANGO_SECRET_KEY', undefined);

    const routeHandler = ((await import('../functions/route.ts')) as { handler: Handler }).handler;
    const applyHandler = ((await import('../functions/apply.ts')) as { handler: Handler }).handler;

    const observed = new Map<string, ObservedPatch>();
    const observe = (r: InvocationResult) => {
      const deleted = new Set(r.deletedIds);
      for (const rec of r.records) {
        let p = observed.get(rec.messageId);
        if (!p) {
          let message: PatchMessage | undefined;
          try {
            const parsed = patchMessageSchema.safeParse(JSON.parse(rec.body));
            if (parsed.success) message = parsed.data;
          } catch {
            // not JSON: recorded without a message
          }
          p = { messageId: rec.messageId, body: rec.body, deliveries: 0, deleted: false, ...(message ? { message } : {}) };
          observed.set(rec.messageId, p);
        }
        p.deliveries++;
        if (deleted.has(rec.messageId)) p.deleted = true;
      }
      apply.onInvocation?.(r);
    };

    const routeSource = await startEventSource({
      sqs,
      queueUrl: queues.ingressUrl,
      handler: routeHandler,
      functionName: 'nango-metadata-sync-route',
      batchSize: route.batchSize,
      maxBatchingWindowMs: route.maxBatchingWindowMs,
      functionTimeoutMs: route.functionTimeoutMs,
      concurrency: route.concurrency,
      ...(route.crashAfter ? { crashAfter: route.crashAfter } : {}),
      ...(route.onInvocation ? { onInvocation: route.onInvocation } : {}),
    });
    stops.push(() => routeSource.stop());
    const applySource = await startEventSource({
      sqs,
      queueUrl: queues.patchesUrl,
      handler: applyHandler,
      functionName: 'nango-metadata-sync-apply',
      batchSize: apply.batchSize,
      maxBatchingWindowMs: apply.maxBatchingWindowMs,
      functionTimeoutMs: apply.functionTimeoutMs,
      concurrency: apply.concurrency,
      // startLocalSqs makes fauxqs receive several messages of one group in order, as AWS does.
      fifo: true,
      ...(apply.crashAfter ? { crashAfter: apply.crashAfter } : {}),
      onInvocation: observe,
    });
    stops.push(() => applySource.stop());
    // Event sources stop first (reverse order): no handler runs against a closed queue or stand-in.

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

    const dlq = async (): Promise<DlqMessage[]> => {
      const read = (url: string, queue: DlqMessage['queue']): DlqMessage[] => {
        const msgs = peekQueue(url);
        if (!msgs) throw new Error(`cannot inspect ${url}: not a fauxqs queue of this process`);
        return msgs.map((msg) => {
          const envelope = parseEnvelope(msg.body);
          const attributes: Record<string, string> = {};
          for (const [k, v] of Object.entries(msg.messageAttributes)) if (v.StringValue !== undefined) attributes[k] = v.StringValue;
          return {
            queue,
            messageId: msg.messageId,
            body: msg.body,
            sentTimestamp: msg.sentTimestamp,
            attributes,
            ...(envelope ? { envelope } : {}),
          };
        });
      };
      return [...read(queues.ingressDlqUrl, 'ingress-dlq'), ...read(queues.patchesDlqUrl, 'patches-dlq')];
    };

    const metadataOf = async (connectionId: string, providerConfigKey: string) => {
      if (nango) return nango.metadataOf(connectionId, providerConfigKey);
      const url = `${nangoUrl}/connections/${encodeURIComponent(connectionId)}?provider_config_key=${encodeURIComponent(providerConfigKey)}`;
      const res = await fetch(url, { headers: { authorization: `Bearer ${secretKey}` }, signal: AbortSignal.timeout(10_000) }).catch(
        (e: Error) => {
          const cause = (e.cause as { code?: string; message?: string } | undefined) ?? {};
          throw new Error(
            `GET connection ${connectionId} (${providerConfigKey}) from ${nangoUrl}: ${cause.code ?? cause.message ?? e.message}`,
          );
        },
      );
      if (res.status === 404) return undefined;
      if (!res.ok) throw new Error(`GET connection ${connectionId} (${providerConfigKey}) from Nango: HTTP ${res.status}`);
      const body = (await res.json()) as { metadata?: Record<string, unknown> | null };
      return body.metadata ?? null;
    };

    let stopping: Promise<void> | undefined;
    return {
      sqs,
      queues,
      ...(nango ? { nango } : {}),
      nangoUrl,
      secrets,
      secretId,
      env,
      route: routeSource,
      apply: applySource,
      send,
      drain: (d) => waitUntilDrained(sqs, [queues.ingressUrl, queues.patchesUrl], d),
      dlq,
      patches: () => [...observed.values()],
      metadataOf,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

function eventIdOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' && id ? id : undefined;
  } catch {
    return undefined;
  }
}
