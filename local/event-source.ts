/**
 * A local stand-in for Lambda's SQS event source mapping: pollers receive from a queue, gather a
 * batch, invoke a real handler with an SQSEvent and a Context built the way Lambda builds them,
 * and apply the partial batch response the way the ESM does (delete what succeeded; leave the rest
 * in flight so SQS redelivers it after its visibility timeout, counting receives and redriving).
 *
 * Not emulated: the 6 MB payload cap, poller scaling (each poller here also invokes, one batch at a
 * time, where Lambda's pollers hand batches on), and killing a handler: a timed-out or
 * crashed invocation is abandoned (its batch counts as failed) but its promise keeps running.
 */
import { DeleteMessageBatchCommand, GetQueueAttributesCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

import { ACCOUNT, makeContext, parseBatchResponse, type Receiver, sleep, toRecord, wireReceiver } from './lambda-shapes.ts';

export { makeContext, parseBatchResponse, type Receiver, toRecord, wireReceiver } from './lambda-shapes.ts';
export { type DrainOptions, type QueueCounts, queueCounts, waitUntilDrained } from './drain.ts';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void> | SQSBatchResponse | void;

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
  /** Long-poll wait per receive when idle (whole seconds, rounded up). Lambda uses 20 s; stop() ends a wait at once. Default 1000. */
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
  /** ReceiveMessage requests made, and those of them an idle poller made that returned nothing. */
  receives: number;
  idleReceives: number;
}

export interface EventSource {
  stop(): Promise<void>;
  stats(): EventSourceStats;
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
    receives: 0,
    idleReceives: 0,
  };
  const abort = new AbortController();
  const signal = abort.signal;

  /**
   * One batch, the way Lambda's poller gathers it: a long poll (pollWaitMs) while idle; once a message
   * came, long polls of the window's remainder (SQS answers as soon as messages arrive, so a trickle
   * costs one receive per arrival, not one per few milliseconds). A receive still waiting when the
   * window ends stays with the poller and starts its next batch. Empty receives while idle are
   * counted apart (`idleReceives`): a fixed cost per queue and poller, not per message.
   */
  async function gather(poll: { pending?: Promise<Message[]> | undefined }): Promise<Message[]> {
    const idle = !poll.pending;
    const first = await (poll.pending ?? receive(Math.min(10, batchSize), pollWaitMs, signal));
    poll.pending = undefined;
    stats.receives++;
    if (first.length === 0 && idle) stats.idleReceives++;
    if (first.length === 0 || signal.aborted) return first;
    const batch = [...first];
    const until = Date.now() + windowMs;
    while (batch.length < batchSize && !signal.aborted) {
      const left = until - Date.now();
      if (left <= 0) break;
      const pending = receive(Math.min(10, batchSize - batch.length), left, signal);
      let timer: NodeJS.Timeout | undefined;
      const got = await Promise.race([pending, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), left)))]);
      clearTimeout(timer);
      if (got === undefined) {
        poll.pending = pending;
        break;
      }
      stats.receives++;
      batch.push(...got);
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
    const poll: { pending?: Promise<Message[]> | undefined } = {};
    while (!signal.aborted) {
      let batch: Message[];
      try {
        batch = await gather(poll);
      } catch (err) {
        poll.pending = undefined;
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
