/**
 * Reading a DLQ without losing anything. SQS has no "peek": we receive with a visibility timeout
 * (messages stay in the queue, hidden), renew it while we work, delete only what was replayed, and
 * make the rest visible again at the end. If the process dies, the hidden messages reappear when
 * the timeout runs out, so a crash can delay a message but never remove it.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { describeError } from './errors.ts';
import type { HeldMessage } from './model.ts';

export interface ScanOptions {
  visibilitySeconds: number;
  waitSeconds: number;
  scanLimit: number;
}

export interface ScanResult {
  messages: HeldMessage[];
  scanLimitReached: boolean;
  /**
   * Messages the queue reports visible after the scan, i.e. not reached: in a FIFO queue those
   * queued behind a held message of the same group (SQS hands out a group in order only), or
   * messages that arrived during the scan. Approximate, as SQS's counts are.
   */
  notReached: number;
  /** Visible + hidden + delayed before the scan, as SQS reports it. */
  approximateTotal: number;
}

/** Receives a message again only when our hold ran out; stop after this many rounds of only those. */
const REPEAT_ROUNDS_TO_STOP = 3;

export class Holder {
  /** queueUrl -> messageId -> the latest receipt */
  private readonly held = new Map<string, Map<string, HeldMessage>>();
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<unknown> | undefined;

  constructor(
    private readonly sqs: SQSClient,
    private readonly visibilitySeconds: number,
    /** For error messages: where requests go (flag or AWS_ENDPOINT_URL_SQS). */
    private readonly endpoint?: string | undefined,
  ) {}

  /** Receives until the queue has nothing visible left for us, deduplicating by MessageId. */
  async scan(queueUrl: string, opts: ScanOptions): Promise<ScanResult> {
    const approximateTotal = await this.count(queueUrl);
    const mine = this.held.get(queueUrl) ?? new Map<string, HeldMessage>();
    this.held.set(queueUrl, mine);
    const seen = new Map<string, HeldMessage>();
    let repeats = 0;
    let limitReached = false;
    for (;;) {
      if (seen.size >= opts.scanLimit) {
        limitReached = true;
        break;
      }
      let got: Message[];
      try {
        const r = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(10, opts.scanLimit - seen.size),
            VisibilityTimeout: opts.visibilitySeconds,
            WaitTimeSeconds: opts.waitSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        got = r.Messages ?? [];
      } catch (e) {
        throw describeError(e, { queueUrl, endpoint: this.endpoint });
      }
      if (!got.length) break;
      let fresh = 0;
      for (const m of got) {
        const h = toHeld(queueUrl, m);
        if (!h) continue;
        if (!seen.has(h.messageId)) fresh++;
        seen.set(h.messageId, h);
        mine.set(h.messageId, h);
      }
      repeats = fresh ? 0 : repeats + 1;
      if (repeats >= REPEAT_ROUNDS_TO_STOP) break;
    }
    const after = await this.attributes(queueUrl);
    return {
      messages: [...seen.values()],
      scanLimitReached: limitReached,
      notReached: Number(after.ApproximateNumberOfMessages ?? 0),
      approximateTotal,
    };
  }

  async count(queueUrl: string): Promise<number> {
    const a = await this.attributes(queueUrl);
    return (
      Number(a.ApproximateNumberOfMessages ?? 0) +
      Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  }

  async attributes(queueUrl: string): Promise<Record<string, string>> {
    try {
      const r = await this.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesNotVisible',
            'ApproximateNumberOfMessagesDelayed',
            'QueueArn',
            'FifoQueue',
            'RedrivePolicy',
          ],
        }),
      );
      return r.Attributes ?? {};
    } catch (e) {
      throw describeError(e, { queueUrl, endpoint: this.endpoint });
    }
  }

  /** Renews the hold on everything held, every third of the visibility timeout. */
  startRenewing(): void {
    if (this.timer) return;
    const every = Math.max(1, Math.floor(this.visibilitySeconds / 3)) * 1000;
    this.timer = setInterval(() => {
      if (this.renewing) return;
      this.renewing = this.setVisibility(this.visibilitySeconds).finally(() => (this.renewing = undefined));
    }, every);
    // A pending renewal must not keep a finished CLI alive.
    this.timer.unref();
  }

  /** Removes a replayed message. Throws if SQS refuses (the message then stays and is replayed again later). */
  async delete(msg: HeldMessage): Promise<void> {
    await this.sqs.send(new DeleteMessageCommand({ QueueUrl: msg.queueUrl, ReceiptHandle: this.latest(msg).receiptHandle }));
    this.held.get(msg.queueUrl)?.delete(msg.messageId);
  }

  /** Makes every held message visible again at once. Returns how many SQS did not accept (they reappear at the timeout). */
  async releaseAll(): Promise<number> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing;
    const failed = await this.setVisibility(0);
    this.held.clear();
    return failed;
  }

  get heldCount(): number {
    let n = 0;
    for (const m of this.held.values()) n += m.size;
    return n;
  }

  private latest(msg: HeldMessage): HeldMessage {
    return this.held.get(msg.queueUrl)?.get(msg.messageId) ?? msg;
  }

  private async setVisibility(seconds: number): Promise<number> {
    let failed = 0;
    for (const [queueUrl, msgs] of this.held) {
      const all = [...msgs.values()];
      for (let i = 0; i < all.length; i += 10) {
        const chunk = all.slice(i, i + 10);
        try {
          const r = await this.sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.receiptHandle, VisibilityTimeout: seconds })),
            }),
          );
          failed += r.Failed?.length ?? 0;
        } catch {
          failed += chunk.length;
        }
      }
    }
    return failed;
  }
}

function toHeld(queueUrl: string, m: Message): HeldMessage | undefined {
  if (!m.MessageId || !m.ReceiptHandle) return undefined;
  const messageAttributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) if (v.StringValue !== undefined) messageAttributes[k] = v.StringValue;
  return {
    queueUrl,
    messageId: m.MessageId,
    receiptHandle: m.ReceiptHandle,
    body: m.Body ?? '',
    attributes: { ...(m.Attributes as Record<string, string> | undefined) },
    messageAttributes,
  };
}
