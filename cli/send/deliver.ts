/**
 * Putting batches on the bus or the queue, retrying what failed. A request answers per entry:
 * EventBridge's retryable codes are ThrottlingException and InternalFailure, SQS marks its own
 * faults with SenderFault false; those entries are sent again, alone, with exponential backoff
 * and jitter, up to a few attempts. Anything else fails at once with its code. A whole request the
 * SDK gave up on (after its own retries: no network, no credentials, access denied) stops the run:
 * later requests would fail the same way, so they are not made, and the error is reported once.
 */
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Item } from './batch.ts';

export interface Failure {
  where: string;
  code: string;
  message: string;
}

export interface DeliveryResult {
  sent: number;
  failed: Failure[];
  retried: number;
  /** Events not attempted after a request failed as a whole. */
  notSent: number;
  /** That request's error. */
  stoppedBy?: unknown;
}

export interface EntryOutcome {
  ok: boolean;
  retryable: boolean;
  code?: string | undefined;
  message?: string | undefined;
}

/** Sends one batch; answers one outcome per item, in order. */
export type BatchSender<T> = (items: readonly Item<T>[]) => Promise<EntryOutcome[]>;

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 200, maxMs: 5_000 };

export async function deliver<T>(
  batches: readonly (readonly Item<T>[])[],
  send: BatchSender<T>,
  policy: RetryPolicy,
  onProgress: (r: DeliveryResult) => void,
): Promise<DeliveryResult> {
  const result: DeliveryResult = { sent: 0, failed: [], retried: 0, notSent: 0 };
  for (const [b, batch] of batches.entries()) {
    let pending = [...batch];
    for (let attempt = 1; pending.length; attempt++) {
      let outcomes: EntryOutcome[];
      try {
        outcomes = await send(pending);
      } catch (e) {
        result.stoppedBy = e;
        result.notSent = pending.length + batches.slice(b + 1).reduce((n, x) => n + x.length, 0);
        onProgress(result);
        return result;
      }
      const again: Item<T>[] = [];
      pending.forEach((item, i) => {
        const o = outcomes[i] ?? { ok: false, retryable: true, code: 'NoResult', message: 'the answer had no entry for this event' };
        if (o.ok) result.sent++;
        else if (o.retryable && attempt < policy.attempts) again.push(item);
        else result.failed.push({ where: item.where, code: o.code ?? 'Unknown', message: o.message ?? '' });
      });
      onProgress(result);
      if (again.length) {
        result.retried += again.length;
        // Full jitter: retries of many senders do not line up.
        await sleep(Math.random() * Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)));
      }
      pending = again;
    }
  }
  return result;
}

const RETRYABLE_EVENTBRIDGE = new Set(['ThrottlingException', 'InternalFailure']);

export function busSender(client: EventBridgeClient): BatchSender<PutEventsRequestEntry> {
  return async (items) => {
    const r = await client.send(new PutEventsCommand({ Entries: items.map((i) => i.payload) }));
    return items.map((_, i) => {
      const e = r.Entries?.[i];
      if (e?.EventId && !e.ErrorCode) return { ok: true, retryable: false };
      return { ok: false, retryable: RETRYABLE_EVENTBRIDGE.has(e?.ErrorCode ?? ''), code: e?.ErrorCode, message: e?.ErrorMessage };
    });
  };
}

export function queueSender(client: SQSClient, queueUrl: string): BatchSender<string> {
  return async (items) => {
    const r = await client.send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: items.map((it, i) => ({ Id: String(i), MessageBody: it.payload })) }),
    );
    const failed = new Map((r.Failed ?? []).map((f) => [f.Id, f]));
    return items.map((_, i) => {
      const f = failed.get(String(i));
      if (!f) return { ok: true, retryable: false };
      return { ok: false, retryable: f.SenderFault === false, code: f.Code, message: f.Message };
    });
  };
}
