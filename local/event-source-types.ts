/** The shapes of the local Lambda SQS event source (local/event-source.ts): options, invocations, stats. */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Receiver } from './lambda-shapes.ts';

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
  /** Invocations at once (the ESM's maxConcurrency). Default 2. */
  concurrency?: number;
  /** Pollers gathering batches (Lambda starts 5 per standard queue and scales them with the backlog). Default: concurrency. */
  pollers?: number;
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
