/**
 * A local stand-in for Lambda's SQS event source mapping: pollers receive from a queue, gather a
 * batch, invoke a real handler with an SQSEvent and a Context built the way Lambda builds them,
 * and apply the partial batch response the way the ESM does (delete what succeeded; leave the rest
 * in flight so SQS redelivers it after its visibility timeout, counting receives and redriving).
 *
 * Not emulated: the 6 MB payload cap, poller scaling, and killing a handler: a timed-out or
 * crashed invocation is abandoned (its batch counts as failed) but its promise keeps running.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void> | SQSBatchResponse | void;

/** Receives up to `max` messages (system attributes included), waiting up to `waitMs` for the first. */
export type Receiver = (max: number, waitMs: number, signal: AbortSignal) => Promise<Message[]>;

export type InvocationOutcome = 'ok' | 'partial' | 'error' | 'invalid-response' | 'timeout' | 'crash';

export interface InvocationInfo {
  /** 1-based, per event source. */
  invocation: number;
  requestId: string;
  records: readonly SQSRecord[];
}

export interface InvocationResult extends InvocationInfo {
  outcome: InvocationOutcome;
  /** Message ids left in flight for redelivery (every record unless outcome is ok/partial). */
  failedIds: string[];
  /** Message ids deleted from the queue. */
  deletedIds: string[];
  error?: unknown;
  durationMs: number;
}

export interface EventSourceOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** eventSourceARN of the records; read from the queue's QueueArn attribute when absent. */
  queueArn?: string;
  handler: SqsHandler;
  /** Records per invocation (Lambda: 1-10 for FIFO, up to 10,000 for standard). Default 10. */
  batchSize?: number;
  /** Lambda's MaximumBatchingWindowInSeconds, in ms: keep gathering this long after the first message. Default 0. */
  maxBatchingWindowMs?: number;
  /** The function's timeout: the Context counts down from it; exceeding it fails the whole batch. Default 30 s. */
  functionTimeoutMs?: number;
  /** Concurrent pollers, each invoking one batch at a time (the ESM's maxConcurrency). Default 2. */
  concurrency?: number;
  /** Defaults to queueUrl ending in `.fifo`. */
  fifo?: boolean;
  functionName?: string;
  awsRegion?: string;
  /** Long-poll wait per receive when idle. Lambda uses 20 s; short keeps stop() and idle CPU cheap. Default 1000. */
  pollWaitMs?: number;
  /**
   * How messages are received. Default: ReceiveMessage over the wire (local/standins/sqs.ts makes
   * fauxqs return several messages of one FIFO group per call, in order, as AWS does).
   */
  receiver?: Receiver;
  /**
   * Chaos hook: `true` = the invocation dies after the handler returned and before anything is
   * deleted; a number = it dies that many ms after it started (the handler is abandoned, not
   * stopped). Either way the whole batch stays in flight.
   */
  crashAfter?: (info: InvocationInfo) => boolean | number;
  /** Called after each invocation settled and its deletions were made. */
  onInvocation?: (result: InvocationResult) => void;
  /** Called when the harness itself fails (receive/delete errors); default: ignored and retried. */
  onError?: (err: unknown) => void;
}

export interface EventSourceStats {
  invocations: number;
  records: number;
  deleted: number;
  /** Records left for redelivery (partial failures plus whole failed batches). */
  failures: number;
  errors: number;
  invalidResponses: number;
  timeouts: number;
  crashes: number;
  inFlightInvocations: number;
}

export interface EventSource {
  stop(): Promise<void>;
  stats(): EventSourceStats;
}

const ACCOUNT = '000000000000';
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** ReceiveMessage over the wire, as the ESM's pollers do. */
export function wireReceiver(sqs: SQSClient, queueUrl: string): Receiver {
  return async (max, waitMs, signal) => {
    const waitSeconds = Math.min(20, Math.floor(waitMs / 1000));
    try {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
          WaitTimeSeconds: waitSeconds,
          AttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: signal },
      );
      const msgs = out.Messages ?? [];
      // Sub-second waits: a short poll answered at once; do not spin.
      if (msgs.length === 0 && waitSeconds === 0 && waitMs > 0) await sleep(Math.min(waitMs, 25), signal);
      return msgs;
    } catch (err) {
      if (signal.aborted) return [];
      throw err;
    }
  };
}

/** Lambda's SQSRecord from an SQS message (string/binary attribute values, empty list values). */
export function toRecord(m: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const a = m.Attributes ?? {};
  const attributes: SQSRecord['attributes'] = {
    ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
    SentTimestamp: a.SentTimestamp ?? String(Date.now()),
    SenderId: a.SenderId ?? ACCOUNT,
    ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  };
  for (const k of ['SequenceNumber', 'MessageGroupId', 'MessageDeduplicationId', 'AWSTraceHeader'] as const) {
    const v = a[k];
    if (v !== undefined) attributes[k] = v;
  }
  const messageAttributes: SQSMessageAttributes = {};
  for (const [name, v] of Object.entries(m.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
      ...(v.BinaryValue !== undefined ? { binaryValue: Buffer.from(v.BinaryValue).toString('base64') } : {}),
      stringListValues: [],
      binaryListValues: [],
      dataType: v.DataType ?? 'String',
    };
  }
  return {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes,
    messageAttributes,
    md5OfBody: m.MD5OfBody ?? '',
    ...(m.MD5OfMessageAttributes ? { md5OfMessageAttributes: m.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
}

export function makeContext(functionName: string, region: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const legacy = () => {
    throw new Error('callback-style context methods are not supported by Node 24 async handlers');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: legacy,
    fail: legacy,
    succeed: legacy,
  };
}

/**
 * Lambda's reading of a partial batch response: null/undefined/empty list = all succeeded; anything
 * malformed, an empty/null identifier or one not in the batch = the whole batch failed.
 */
export function parseBatchResponse(
  res: unknown,
  ids: ReadonlySet<string>,
): { ok: true; failed: Set<string> } | { ok: false; reason: string } {
  if (res === undefined || res === null) return { ok: true, failed: new Set() };
  if (typeof res !== 'object' || Array.isArray(res)) return { ok: false, reason: 'response is not an object' };
  const list = (res as { batchItemFailures?: unknown }).batchItemFailures;
  if (list === undefined || list === null) return { ok: true, failed: new Set() };
  if (!Array.isArray(list)) return { ok: false, reason: 'batchItemFailures is not an array' };
  const failed = new Set<string>();
  for (const item of list) {
    const id = item && typeof item === 'object' ? (item as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '') return { ok: false, reason: `invalid itemIdentifier ${JSON.stringify(id)}` };
    if (!ids.has(id)) return { ok: false, reason: `itemIdentifier ${id} is not in the batch` };
    failed.add(id);
  }
  return { ok: true, failed };
}

type Settled = { kind: 'returned'; value: unknown } | { kind: 'threw'; error: unknown } | { kind: 'timeout' } | { kind: 'crash' };

export async function startEventSource(opts: EventSourceOptions): Promise<EventSource> {
  const fifo = opts.fifo ?? opts.queueUrl.endsWith('.fifo');
  const batchSize = opts.batchSize ?? 10;
  const windowMs = opts.maxBatchingWindowMs ?? 0;
  const timeoutMs = opts.functionTimeoutMs ?? 30_000;
  const concurrency = opts.concurrency ?? 2;
  const region = opts.awsRegion ?? process.env.AWS_REGION ?? 'us-east-1';
  const pollWaitMs = opts.pollWaitMs ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > (fifo ? 10 : 10_000)) {
    throw new Error(`batchSize must be 1-${fifo ? 10 : 10_000} for a ${fifo ? 'FIFO' : 'standard'} queue (got ${batchSize})`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer (got ${concurrency})`);

  // Lambda refuses a mapping whose queue visibility is shorter than the function timeout.
  const attrs =
    (await opts.sqs.send(new GetQueueAttributesCommand({ QueueUrl: opts.queueUrl, AttributeNames: ['QueueArn', 'VisibilityTimeout'] })))
      .Attributes ?? {};
  const visibilityS = Number(attrs.VisibilityTimeout ?? '30');
  if (visibilityS * 1000 < timeoutMs) {
    throw new Error(`queue visibility timeout (${visibilityS} s) is less than the function timeout (${timeoutMs / 1000} s)`);
  }
  const arn = opts.queueArn ?? attrs.QueueArn ?? `arn:aws:sqs:${region}:${ACCOUNT}:${opts.queueUrl.split('/').pop()}`;
  const functionName = opts.functionName ?? `local-${opts.queueUrl.split('/').pop()?.replace(/\W/g, '-')}`;
  const receive = opts.receiver ?? wireReceiver(opts.sqs, opts.queueUrl);
  const onError = opts.onError ?? (() => {});

  const stats: EventSourceStats = {
    invocations: 0,
    records: 0,
    deleted: 0,
    failures: 0,
    errors: 0,
    invalidResponses: 0,
    timeouts: 0,
    crashes: 0,
    inFlightInvocations: 0,
  };
  const abort = new AbortController();
  const signal = abort.signal;

  async function gather(): Promise<Message[]> {
    const first = await receive(Math.min(10, batchSize), pollWaitMs, signal);
    if (first.length === 0 || signal.aborted) return first;
    const batch = [...first];
    const until = Date.now() + windowMs;
    while (batch.length < batchSize && !signal.aborted) {
      const left = until - Date.now();
      if (left <= 0) break;
      batch.push(...(await receive(Math.min(10, batchSize - batch.length), left, signal)));
    }
    return batch;
  }

  async function deleteAll(msgs: Message[]): Promise<string[]> {
    const deleted: string[] = [];
    for (let i = 0; i < msgs.length; i += 10) {
      const chunk = msgs.slice(i, i + 10);
      try {
        const out = await opts.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: opts.queueUrl,
            Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
        // A receipt handle gone stale (visibility expired, message received again) is not deleted: as on AWS.
        for (const ok of out.Successful ?? []) {
          const m = chunk[Number(ok.Id)];
          if (m?.MessageId) deleted.push(m.MessageId);
        }
      } catch (err) {
        onError(err);
      }
    }
    return deleted;
  }

  async function invoke(msgs: Message[]): Promise<void> {
    const records = msgs.map((m) => toRecord(m, arn, region));
    const context = makeContext(functionName, region, timeoutMs);
    const info: InvocationInfo = { invocation: ++stats.invocations, requestId: context.awsRequestId, records };
    stats.records += records.length;
    stats.inFlightInvocations++;
    const started = Date.now();
    const crash = opts.crashAfter?.(info) ?? false;
    const timers: NodeJS.Timeout[] = [];
    const race: Promise<Settled>[] = [
      // Lambda passes the handler its own copy of the event.
      Promise.resolve()
        .then(() => opts.handler(structuredClone({ Records: records }), context))
        .then(
          (value): Settled => ({ kind: 'returned', value }),
          (error: unknown): Settled => ({ kind: 'threw', error }),
        ),
      new Promise<Settled>((r) => timers.push(setTimeout(() => r({ kind: 'timeout' }), timeoutMs))),
    ];
    if (typeof crash === 'number') race.push(new Promise<Settled>((r) => timers.push(setTimeout(() => r({ kind: 'crash' }), crash))));
    let settled = await Promise.race(race);
    for (const t of timers) clearTimeout(t);
    if (crash === true) settled = { kind: 'crash' };

    const ids = new Set(records.map((r) => r.messageId));
    let outcome: InvocationOutcome;
    let failed: Set<string>;
    let error: unknown;
    switch (settled.kind) {
      case 'returned': {
        const parsed = parseBatchResponse(settled.value, ids);
        if (parsed.ok) {
          failed = parsed.failed;
          outcome = failed.size === 0 ? 'ok' : 'partial';
        } else {
          failed = ids;
          outcome = 'invalid-response';
          error = new Error(parsed.reason);
          stats.invalidResponses++;
        }
        break;
      }
      case 'threw':
        failed = ids;
        outcome = 'error';
        error = settled.error;
        stats.errors++;
        break;
      case 'timeout':
        failed = ids;
        outcome = 'timeout';
        error = new Error(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
        stats.timeouts++;
        break;
      case 'crash':
        failed = ids;
        outcome = 'crash';
        stats.crashes++;
        break;
    }
    stats.failures += failed.size;
    const deletedIds = await deleteAll(msgs.filter((m) => !failed.has(m.MessageId ?? '')));
    stats.deleted += deletedIds.length;
    stats.inFlightInvocations--;
    try {
      opts.onInvocation?.({ ...info, outcome, failedIds: [...failed], deletedIds, error, durationMs: Date.now() - started });
    } catch (err) {
      onError(err); // an observer's bug must not stop the poller
    }
  }

  async function poller(): Promise<void> {
    while (!signal.aborted) {
      let batch: Message[];
      try {
        batch = await gather();
      } catch (err) {
        onError(err);
        await sleep(100, signal);
        continue;
      }
      // Messages received while stopping stay in flight; SQS redelivers them after their visibility.
      if (batch.length === 0 || signal.aborted) continue;
      await invoke(batch);
    }
  }

  const loops = Array.from({ length: concurrency }, () => poller());
  let stopping: Promise<void> | undefined;
  return {
    stats: () => ({ ...stats }),
    stop() {
      stopping ??= (async () => {
        abort.abort();
        await Promise.all(loops);
      })();
      return stopping;
    },
  };
}

export interface QueueCounts {
  url: string;
  visible: number;
  inFlight: number;
  delayed: number;
}

export async function queueCounts(sqs: SQSClient, url: string): Promise<QueueCounts> {
  const a =
    (
      await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
        }),
      )
    ).Attributes ?? {};
  return {
    url,
    visible: Number(a.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

export interface DrainOptions {
  /** All queues must read empty for this long (a handler may be about to send). Default 300. */
  quietMs?: number;
  /** Give up after this long with an error naming what is left. Default 60 s. */
  timeoutMs?: number;
  intervalMs?: number;
  onProgress?: (counts: QueueCounts[]) => void;
  signal?: AbortSignal;
}

/** Resolves once every queue has no visible, in-flight or delayed message for `quietMs`. */
export async function waitUntilDrained(sqs: SQSClient, urls: readonly string[], o: DrainOptions = {}): Promise<QueueCounts[]> {
  const quietMs = o.quietMs ?? 300;
  const timeoutMs = o.timeoutMs ?? 60_000;
  const intervalMs = o.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let quietSince: number | undefined;
  for (;;) {
    const counts = await Promise.all(urls.map((u) => queueCounts(sqs, u)));
    o.onProgress?.(counts);
    const empty = counts.every((c) => c.visible + c.inFlight + c.delayed === 0);
    const now = Date.now();
    if (!empty) quietSince = undefined;
    else if (quietSince === undefined) quietSince = now;
    else if (now - quietSince >= quietMs) return counts;
    if (now > deadline) {
      const left = counts.map((c) => `${c.url.split('/').pop()}: ${c.visible} visible, ${c.inFlight} in flight, ${c.delayed} delayed`);
      throw new Error(`queues not drained after ${timeoutMs} ms (${left.join('; ')})`);
    }
    if (o.signal?.aborted) throw new Error('drain aborted');
    await sleep(intervalMs, o.signal);
  }
}
