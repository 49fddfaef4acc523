/**
 * SQS on loopback: fauxqs's `buildApp` listening on 127.0.0.1 (its `startFauxqs` binds 0.0.0.0), and
 * the pipeline's four queues created with the attributes the CDK construct deploys.
 *
 * Queue URLs: fauxqs builds them in SqsStore.buildQueueUrl as `http://sqs.<region>.<host>:<port>/
 * 000000000000/<name>` with `host` defaulting to "localhost" (`sqs.us-east-1.localhost` does not
 * resolve), or from the request's Host header when `host` is empty. This stand-in empties it, so
 * URLs are `http://127.0.0.1:<port>/000000000000/<name>`: they resolve, and a client that only has
 * AWS_ENDPOINT_URL_SQS (the SDK then sends to the QueueUrl's host) reaches the same server. Queues
 * are looked up by that exact URL: use the URLs returned, verbatim.
 *
 * AWS FIFO receive: fauxqs hands out at most one message per group per ReceiveMessage, where AWS
 * returns several of one group, in order. With `awsFifoReceive` (default) the FIFO queues of this
 * instance receive the AWS way, and messages handed back (visibility 0 or expiry) return to their
 * group in sequence order, not reversed. Both touch fauxqs 2.x internals, checked at start (2.4.1
 * still breaks after one message of a group, and still puts handed-back messages back one by one).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { type LongPollQueue, patchLongPoll } from './sqs-long-poll.ts';

export interface LocalSqsOptions {
  /** Receive several messages of one FIFO group per call, like AWS (default true). */
  awsFifoReceive?: boolean;
}

export interface PipelineQueueOptions {
  /** Prepended to every queue name (default ''). */
  prefix?: string;
  /** Redrive maxReceiveCount of both source queues (default 5, the construct's default). */
  maxReceiveCount?: number;
  ingressVisibilitySeconds?: number;
  syncVisibilitySeconds?: number;
  /** The sync queue's DelaySeconds (the construct's debounce). Default 0. */
  syncDeliveryDelaySeconds?: number;
  /** The sweep queue's visibility (default 60, the page function's timeout). */
  sweepVisibilitySeconds?: number;
}

export interface PipelineQueues {
  ingressUrl: string;
  ingressDlqUrl: string;
  syncUrl: string;
  syncDlqUrl: string;
  /** The sweep's page queue and its DLQ. */
  sweepUrl: string;
  sweepDlqUrl: string;
}

/** Refuses a request (403 AccessDenied, which the SDK does not retry) when it returns true. */
export type SqsRefusal = (request: { action: string; queueName: string; body: string }) => boolean;

export interface LocalSqs {
  /** http://127.0.0.1:<port>, for `endpoint` or AWS_ENDPOINT_URL_SQS. */
  endpoint: string;
  /** Injects refusals (a queue policy or KMS denying a send, say) until called again with undefined. */
  refuse(fn: SqsRefusal | undefined): void;
  close(): Promise<void>;
  /** One shared SQSClient pointed at the endpoint (destroyed by close()). */
  client(): SQSClient;
  createPipelineQueues(opts?: PipelineQueueOptions): Promise<PipelineQueues>;
}

// ---- fauxqs internals (2.x) used for the AWS-style FIFO receive ------------------------------

interface FxMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  md5OfMessageAttributes?: string;
  messageAttributes: Record<string, unknown>;
  messageGroupId?: string;
  sequenceNumber?: string;
  approximateReceiveCount: number;
  approximateFirstReceiveTimestamp?: number;
}
interface FxInflight {
  message: FxMessage;
  receiptHandle: string;
  visibilityDeadline: number;
}
interface FxQueue {
  name: string;
  attributes: Record<string, string>;
  fifoMessages: Map<string, FxMessage[]>;
  fifoLockedGroups: Map<string, number>;
  inflightMessages: Map<string, FxInflight>;
  spy?: { addMessage(m: unknown): void };
  isFifo(): boolean;
  enqueue(m: FxMessage): void;
  processTimers(): void;
  changeVisibility(receiptHandle: string, seconds: number): void;
  dequeueFifo(max: number, visibility: number | undefined, dlq?: (arn: string) => FxQueue | undefined): unknown[];
}
interface FxSqsStore {
  host: string;
  createQueue(name: string, url: string, arn: string, attributes?: Record<string, string>, tags?: Record<string, string>): FxQueue;
}
type Ctor<T> = new () => T;

/** The fauxqs major whose internals the patches read (its queue store did not change within 2.x). */
const FAUXQS_MAJOR = '2';

function fauxqsDir(): string {
  // fauxqs exports only its entry point; its stores are reached by path, from the nearest node_modules.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'node_modules', 'fauxqs');
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error('local SQS: node_modules/fauxqs not found');
    dir = up;
  }
}

async function loadStores(awsFifo: boolean): Promise<{ sqsStore: FxSqsStore; snsStore: unknown; s3Store: unknown }> {
  const dir = fauxqsDir();
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  if (awsFifo && version.split('.')[0] !== FAUXQS_MAJOR) {
    throw new Error(
      `local SQS: awsFifoReceive patches fauxqs ${FAUXQS_MAJOR}.x internals, found ${version}; re-check dist/sqs/sqsStore.js or pass awsFifoReceive: false`,
    );
  }
  const load = async <T>(rel: string, name: string): Promise<Ctor<T>> =>
    ((await import(pathToFileURL(join(dir, 'dist', rel)).href)) as Record<string, Ctor<T>>)[name]!;
  const [SqsStore, SnsStore, S3Store] = await Promise.all([
    load<FxSqsStore>('sqs/sqsStore.js', 'SqsStore'),
    load<unknown>('sns/snsStore.js', 'SnsStore'),
    load<unknown>('s3/s3Store.js', 'S3Store'),
  ]);
  return { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
}

/** fauxqs's dequeueFifo without its one-message-per-group `break`: fill from a group, in order. */
function awsDequeueFifo(
  q: FxQueue,
  maxCount: number,
  visibilityOverride: number | undefined,
  dlqResolver?: (arn: string) => FxQueue | undefined,
) {
  q.processTimers();
  const visibility = visibilityOverride ?? parseInt(q.attributes['VisibilityTimeout'] ?? '30', 10);
  let maxReceiveCount = Infinity;
  let dlqArn: string | undefined;
  if (q.attributes['RedrivePolicy']) {
    try {
      const p = JSON.parse(q.attributes['RedrivePolicy']) as { maxReceiveCount?: number; deadLetterTargetArn?: string };
      maxReceiveCount = Number(p.maxReceiveCount ?? Infinity);
      dlqArn = p.deadLetterTargetArn;
    } catch {
      // An invalid policy is ignored, as fauxqs does.
    }
  }
  const result: Array<Record<string, unknown>> = [];
  const count = Math.min(maxCount, 10);
  for (const [groupId, msgs] of q.fifoMessages) {
    if (result.length >= count) break;
    if (q.fifoLockedGroups.has(groupId)) continue;
    while (result.length < count && msgs.length > 0) {
      const msg = msgs.shift()!;
      msg.approximateReceiveCount++;
      msg.approximateFirstReceiveTimestamp ??= Date.now();
      if (dlqArn && dlqResolver && msg.approximateReceiveCount > maxReceiveCount) {
        const dlq = dlqResolver(dlqArn);
        if (dlq) {
          q.spy?.addMessage({
            service: 'sqs',
            queueName: q.name,
            messageId: msg.messageId,
            body: msg.body,
            messageAttributes: msg.messageAttributes,
            status: 'dlq',
            timestamp: Date.now(),
          });
          dlq.enqueue(msg);
          continue;
        }
      }
      const receiptHandle = randomUUID();
      q.inflightMessages.set(receiptHandle, { message: msg, receiptHandle, visibilityDeadline: Date.now() + visibility * 1000 });
      result.push({
        MessageId: msg.messageId,
        ReceiptHandle: receiptHandle,
        MD5OfBody: msg.md5OfBody,
        Body: msg.body,
        ...(msg.md5OfMessageAttributes ? { MD5OfMessageAttributes: msg.md5OfMessageAttributes } : {}),
        ...(Object.keys(msg.messageAttributes).length > 0 ? { MessageAttributes: msg.messageAttributes } : {}),
      });
      q.fifoLockedGroups.set(groupId, (q.fifoLockedGroups.get(groupId) ?? 0) + 1);
    }
    if (msgs.length === 0) q.fifoMessages.delete(groupId);
  }
  return result;
}

/** fauxqs puts handed-back messages at the front of their group one by one (reversing several); restore sequence order. */
function sortGroups(q: FxQueue) {
  // Sequence numbers are fixed-width digit strings: plain comparison orders them, and most groups are
  // already in order (checked in one pass), so a large backlog costs no sort per receive.
  const seq = (m: { sequenceNumber?: string }) => m.sequenceNumber ?? '';
  for (const msgs of q.fifoMessages.values()) {
    let sorted = true;
    for (let i = 1; i < msgs.length && sorted; i++) sorted = seq(msgs[i - 1]!) <= seq(msgs[i]!);
    if (!sorted) msgs.sort((a, b) => (seq(a) < seq(b) ? -1 : seq(a) > seq(b) ? 1 : 0));
  }
}

function patchFifo(q: FxQueue) {
  for (const m of ['fifoMessages', 'fifoLockedGroups', 'inflightMessages'] as const) {
    if (!(q[m] instanceof Map)) throw new Error(`local SQS: fauxqs queue has no ${m} map; internals changed`);
  }
  const processTimers = q.processTimers.bind(q);
  const changeVisibility = q.changeVisibility.bind(q);
  q.dequeueFifo = (max, vis, dlq) => awsDequeueFifo(q, max, vis, dlq);
  q.processTimers = () => {
    processTimers();
    sortGroups(q);
  };
  q.changeVisibility = (handle, seconds) => {
    changeVisibility(handle, seconds);
    sortGroups(q);
  };
}

// ---- the stand-in ------------------------------------------------------------------------------

export async function startLocalSqs(opts: LocalSqsOptions = {}): Promise<LocalSqs> {
  const awsFifo = opts.awsFifoReceive ?? true;
  const stores = await loadStores(awsFifo);
  stores.sqsStore.host = ''; // queue URLs from the Host header: http://127.0.0.1:<port>/...
  const create = stores.sqsStore.createQueue.bind(stores.sqsStore);
  stores.sqsStore.createQueue = (...args) => {
    const q = create(...args);
    if (awsFifo && q.isFifo()) patchFifo(q);
    // Standard queues only: on the sync FIFO the patch made apply coalesce more in the debounce test
    // (not understood yet), so FIFO receives keep fauxqs's early empty answers (counted as requests).
    if (!q.isFifo()) patchLongPoll(q as unknown as LongPollQueue);
    return q;
  };
  const app = buildApp({ logger: false, stores: stores as never });
  let refusal: SqsRefusal | undefined;
  type Reply = { code(n: number): Reply; header(k: string, v: string): Reply; send(b: unknown): Reply };
  app.addHook('preHandler', async (req: { headers: Record<string, unknown>; body?: unknown }, reply: Reply) => {
    const target = req.headers['x-amz-target'];
    if (!refusal || typeof target !== 'string') return;
    const body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body ?? {});
    const url = /"QueueUrl"\s*:\s*"([^"]+)"/.exec(body)?.[1] ?? '';
    const request = { action: target.slice(target.indexOf('.') + 1), queueName: url.slice(url.lastIndexOf('/') + 1), body };
    if (!refusal(request)) return;
    return reply
      .code(403)
      .header('content-type', 'application/x-amz-json-1.0')
      .send({ __type: 'com.amazon.coral.service#AccessDeniedException', message: 'refused by the stand-in' });
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;

  let shared: SQSClient | undefined;
  const client = () =>
    (shared ??= new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }));

  return {
    endpoint,
    refuse: (fn) => {
      refusal = fn;
    },
    client,
    async close() {
      shared?.destroy();
      shared = undefined;
      await app.close();
    },
    async createPipelineQueues(o = {}) {
      const sqs = client();
      const prefix = o.prefix ?? '';
      const maxReceiveCount = String(o.maxReceiveCount ?? 5);
      const DLQ_RETENTION = String(14 * 24 * 3600);
      const highThroughputFifo = { FifoQueue: 'true', DeduplicationScope: 'messageGroup', FifoThroughputLimit: 'perMessageGroupId' };
      const create = async (name: string, Attributes: Record<string, string>) => {
        const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${prefix}${name}`, Attributes }));
        const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
        return { url: QueueUrl!, arn: attrs.Attributes!['QueueArn']! };
      };
      const redrive = (arn: string) => JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: Number(maxReceiveCount) });

      const ingressDlq = await create('ingress-dlq', { MessageRetentionPeriod: DLQ_RETENTION });
      const ingress = await create('ingress', {
        VisibilityTimeout: String(o.ingressVisibilitySeconds ?? 30),
        RedrivePolicy: redrive(ingressDlq.arn),
      });
      const syncDlq = await create('sync-dlq.fifo', { ...highThroughputFifo, MessageRetentionPeriod: DLQ_RETENTION });
      const sync = await create('sync.fifo', {
        ...highThroughputFifo,
        // Route sets explicit deduplication ids (event id + connection).
        ContentBasedDeduplication: 'false',
        VisibilityTimeout: String(o.syncVisibilitySeconds ?? 30),
        DelaySeconds: String(o.syncDeliveryDelaySeconds ?? 0),
        RedrivePolicy: redrive(syncDlq.arn),
      });
      const sweepDlq = await create('sweep-dlq', { MessageRetentionPeriod: DLQ_RETENTION });
      const sweep = await create('sweep', {
        VisibilityTimeout: String(o.sweepVisibilitySeconds ?? 60),
        RedrivePolicy: redrive(sweepDlq.arn),
      });
      return {
        ingressUrl: ingress.url,
        ingressDlqUrl: ingressDlq.url,
        syncUrl: sync.url,
        syncDlqUrl: syncDlq.url,
        sweepUrl: sweep.url,
        sweepDlqUrl: sweepDlq.url,
      };
    },
  };
}
