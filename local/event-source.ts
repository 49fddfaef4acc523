/**
 * A local stand-in for Lambda's SQS event source mapping: pollers receive from a queue, gather a
 * batch, invoke a real handler with an SQSEvent and a Context built the way Lambda builds them,
 * and apply the partial batch response the way the ESM does (delete what succeeded; leave the rest
 * in flight so SQS redelivers it after its visibility timeout, counting receives and redriving).
 *
 * Not emulated: the 6 MB payload cap, poller scaling (a fixed number of pollers), and killing a handler:
 * a timed-out or crashed invocation is abandoned (its batch counts as failed) but its promise keeps running.
 * With a batching window, a batch here is invoked when the window ends; AWS documents that on a queue
 * with very little traffic Lambda may wait up to 20 s whatever the window, so a window's latency here
 * is its best case.
 */
import { DeleteMessageBatchCommand, GetQueueAttributesCommand, type Message } from '@aws-sdk/client-sqs';
import type { EventSource, EventSourceOptions, EventSourceStats, InvocationInfo, InvocationOutcome } from './event-source-types.ts';

import { ACCOUNT, makeContext, parseBatchResponse, sleep, toRecord, wireReceiver } from './lambda-shapes.ts';

export { makeContext, parseBatchResponse, type Receiver, toRecord, wireReceiver } from './lambda-shapes.ts';
export { type DrainOptions, type QueueCounts, queueCounts, waitUntilDrained } from './drain.ts';

export type {
  EventSource,
  EventSourceOptions,
  EventSourceStats,
  InvocationInfo,
  InvocationOutcome,
  InvocationResult,
  SqsHandler,
} from './event-source-types.ts';

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

  // Invocations in flight, at most `concurrency`: a poller gathers its next batch while its last one
  // runs (Lambda's pollers hand batches on), so a message never waits for an unrelated invocation.
  const running = new Set<Promise<void>>();
  const slotFreed: (() => void)[] = [];
  async function slot(): Promise<boolean> {
    while (running.size >= concurrency && !signal.aborted) await new Promise<void>((r) => slotFreed.push(r));
    return !signal.aborted;
  }
  signal.addEventListener('abort', () => {
    for (const r of slotFreed.splice(0)) r();
  });

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
      if (batch.length === 0 || !(await slot())) continue;
      const run = invoke(batch)
        .catch(onError)
        .finally(() => {
          running.delete(run);
          slotFreed.shift()?.();
        });
      running.add(run);
    }
  }

  const loops = Array.from({ length: opts.pollers ?? concurrency }, () => poller());
  let stopping: Promise<void> | undefined;
  return {
    stats: () => ({ ...stats }),
    stop() {
      stopping ??= (async () => {
        abort.abort();
        await Promise.all(loops);
        await Promise.all(running);
      })();
      return stopping;
    },
  };
}
