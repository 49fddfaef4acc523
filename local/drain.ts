/** Queue depths, and waiting until a set of queues stayed empty for a while. */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sleep } from './lambda-shapes.ts';

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
