/**
 * `replay --native`: SQS's own DLQ redrive (StartMessageMoveTask), for an unfiltered bulk move
 * in AWS. SQS moves every message, as it is, to the destination named; progress comes from
 * ListMessageMoveTasks. Interrupting stops the watching only: the task runs on in AWS.
 */
import {
  ListMessageMoveTasksCommand,
  StartMessageMoveTaskCommand,
  type ListMessageMoveTasksResultEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from './errors.ts';

export interface NativeOptions {
  dlqUrl: string;
  dlqArn: string;
  /**
   * Always given: without it SQS sends each message back to the queue it came from, which it knows
   * only for messages its own redrive moved, not for envelopes a function sent to the DLQ.
   */
  destinationArn: string;
  /** Messages per second; undefined = SQS's own pace. */
  rate?: number | undefined;
  pollMs: number;
  signal: AbortSignal;
  onStatus: (t: ListMessageMoveTasksResultEntry) => void;
}

export interface NativeResult {
  taskHandle: string;
  final?: ListMessageMoveTasksResultEntry | undefined;
  /** True when the watch was interrupted before the task ended. */
  detached: boolean;
}

const DONE = new Set(['COMPLETED', 'CANCELLED', 'FAILED']);

export async function nativeRedrive(sqs: SQSClient, o: NativeOptions): Promise<NativeResult> {
  let taskHandle: string;
  try {
    const r = await sqs.send(
      new StartMessageMoveTaskCommand({
        SourceArn: o.dlqArn,
        DestinationArn: o.destinationArn,
        // SQS caps this at 500 per second.
        ...(o.rate !== undefined && o.rate > 0 ? { MaxNumberOfMessagesPerSecond: Math.max(1, Math.min(500, Math.floor(o.rate))) } : {}),
      }),
    );
    taskHandle = r.TaskHandle ?? '';
  } catch (e) {
    throw describeError(e, { queueUrl: o.dlqUrl });
  }
  for (;;) {
    let entry: ListMessageMoveTasksResultEntry | undefined;
    try {
      const r = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: o.dlqArn, MaxResults: 10 }));
      entry = r.Results?.find((t) => t.TaskHandle === taskHandle) ?? r.Results?.[0];
    } catch (e) {
      throw describeError(e, { queueUrl: o.dlqUrl });
    }
    if (entry) {
      o.onStatus(entry);
      if (entry.Status && DONE.has(entry.Status)) return { taskHandle, final: entry, detached: false };
    }
    try {
      await sleep(o.pollMs, undefined, { signal: o.signal });
    } catch {
      return { taskHandle, final: entry, detached: true };
    }
  }
}
