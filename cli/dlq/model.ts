/**
 * The tool's view of one DLQ message: what failed, where, why, and how to send it back.
 * Built from the raw SQS message by classify.ts; everything else (filters, summary, replay,
 * output) works on DlqItem only.
 */
import type { DlqEnvelope, Stage } from '#commons/dlq-envelope';

/** The pipeline's queues; each stage has one source queue and one DLQ. */
export type QueueRole = 'ingress' | 'ingressDlq' | 'sync' | 'syncDlq';
export type SourceRole = 'ingress' | 'sync';

export const STAGE_QUEUES: Record<Stage, { dlq: QueueRole; source: SourceRole }> = {
  route: { dlq: 'ingressDlq', source: 'ingress' },
  apply: { dlq: 'syncDlq', source: 'sync' },
};

/** A message received from a DLQ and held invisible until we delete or release it. */
export interface HeldMessage {
  queueUrl: string;
  messageId: string;
  receiptHandle: string;
  body: string;
  /** System attributes: SentTimestamp, ApproximateReceiveCount, MessageGroupId, SequenceNumber... */
  attributes: Record<string, string>;
  /** String message attributes (stage, errorCode, connectionId, ...). */
  messageAttributes: Record<string, string>;
}

/**
 * envelope: written by route/apply with the error. bare: moved by SQS's own redrive after
 * maxReceiveCount (a crashed function), no error attached. malformed: neither; shown, never replayed.
 */
export type ItemKind = 'envelope' | 'bare' | 'malformed';

/** One message to put back on a source queue. */
export interface Outgoing {
  queue: SourceRole;
  body: string;
  /** FIFO only: the connection key. */
  groupId?: string;
  /** FIFO only: new per DLQ message, stable across re-runs (see replayDeduplicationId). */
  deduplicationId?: string;
}

export type ReplayPlan = { ok: true; messages: Outgoing[] } | { ok: false; reason: string };

export interface DlqItem {
  /** The DLQ it was read from. */
  dlqStage: Stage;
  /** The stage that failed (the envelope's; for bare/malformed, the DLQ's). */
  stage: Stage;
  kind: ItemKind;
  messageId: string;
  errorCode: string;
  errorMessage: string;
  status?: number | undefined;
  retryable?: boolean | undefined;
  eventType?: string | undefined;
  eventSource?: string | undefined;
  eventIds: string[];
  connectionId?: string | undefined;
  providerConfigKey?: string | undefined;
  /** Envelope: lastFailureAt. Bare/malformed: the DLQ message's SentTimestamp. */
  failedAt: Date;
  attempts?: number | undefined;
  /** How often the DLQ message itself was received (each inspection counts one). */
  dlqReceiveCount: number;
  sequenceNumber?: string | undefined;
  /** Version 1 only: the merged patch (envelope) or the patch message's patch (bare apply message). */
  patch?: Record<string, unknown> | undefined;
  /** Apply only: the event time behind each patch key (for the dry run's staleness check). */
  keyTimes?: Record<string, string> | undefined;
  envelope?: DlqEnvelope | undefined;
  body: string;
  replay: ReplayPlan;
  held: HeldMessage;
}

/** Synthetic error codes for messages that carry none, so filters can select them. */
export const BARE_CODE = 'sqs_redrive';
export const MALFORMED_CODE = 'malformed_message';
