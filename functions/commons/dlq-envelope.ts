/**
 * The DLQ envelope: what failed, why (Nango's StdError, parsed), for which connection, which events,
 * and the original message bodies so the replay tool can send them back. Versioned JSON; message
 * attributes repeat stage, error code and connection so the replay tool can filter without parsing.
 * The secret key is never part of it: errors are built from response bodies, never from requests.
 */
import * as z from 'zod';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import { eventRefSchema, type EventRef, type Target } from './patch-message.ts';

export const stageSchema = z.enum(['route', 'apply']);
export type Stage = z.output<typeof stageSchema>;

export const failureSchema = z.object({
  status: z.number().int().optional(),
  code: z.string(),
  message: z.string(),
  errors: z.unknown().optional(),
  retryable: z.boolean(),
});
export type Failure = z.output<typeof failureSchema>;

export const originalSchema = z.object({
  messageId: z.string(),
  body: z.string(),
  /** The body was cut to keep the envelope under SQS's message size limit. */
  truncated: z.boolean().optional(),
  messageGroupId: z.string().optional(),
});

export const dlqEnvelopeSchema = z.object({
  v: z.literal(1),
  kind: z.literal('nango-metadata-sync.failure'),
  stage: stageSchema,
  error: failureSchema,
  target: z.object({ connectionId: z.string(), providerConfigKey: z.string() }).optional(),
  patch: z.record(z.string(), z.json()).optional(),
  events: z.array(eventRefSchema),
  attempts: z.number().int().min(0),
  firstFailureAt: z.string(),
  lastFailureAt: z.string(),
  originals: z.array(originalSchema),
});
export type DlqEnvelope = z.output<typeof dlqEnvelopeSchema>;

export interface EnvelopeInput {
  stage: Stage;
  error: Failure;
  target?: Target | undefined;
  patch?: Record<string, unknown> | undefined;
  events: EventRef[];
  attempts: number;
  firstFailureAt: Date;
  lastFailureAt: Date;
  originals: { messageId: string; body: string; messageGroupId?: string }[];
}

/**
 * SQS accepts 1 MiB a message. The originals share this budget (an apply envelope may carry ten), so
 * the envelope with its patch and error stays under the limit; a cut body is flagged `truncated`.
 * Characters, not bytes: a body of multi-byte characters is cut at a quarter of the budget's bytes.
 */
export const MAX_ORIGINALS_CHARS = 200_000;

export function buildEnvelope(input: EnvelopeInput): DlqEnvelope {
  return {
    v: 1,
    kind: 'nango-metadata-sync.failure',
    stage: input.stage,
    error: input.error,
    ...(input.target ? { target: { connectionId: input.target.connectionId, providerConfigKey: input.target.providerConfigKey } } : {}),
    ...(input.patch ? { patch: input.patch as DlqEnvelope['patch'] } : {}),
    events: input.events,
    attempts: input.attempts,
    firstFailureAt: input.firstFailureAt.toISOString(),
    lastFailureAt: input.lastFailureAt.toISOString(),
    originals: fitOriginals(input.originals),
  };
}

function fitOriginals<T extends { body: string }>(originals: T[]): (T & { truncated?: boolean })[] {
  const total = originals.reduce((n, o) => n + o.body.length, 0);
  if (total <= MAX_ORIGINALS_CHARS) return originals;
  const each = Math.floor(MAX_ORIGINALS_CHARS / originals.length);
  return originals.map((o) => (o.body.length > each ? { ...o, body: o.body.slice(0, each), truncated: true } : o));
}

/** SQS accepts only XML characters in attribute values; an event's detail-type may hold others. */
const xmlSafe = (v: string) => v.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/g, '?').slice(0, 1024);

/** Attribute values are strings; SQS rejects empty ones, so absent fields are left out. */
export function envelopeAttributes(env: DlqEnvelope): Record<string, MessageAttributeValue> {
  const attrs: Record<string, string | undefined> = {
    stage: env.stage,
    errorCode: env.error.code,
    connectionId: env.target?.connectionId,
    providerConfigKey: env.target?.providerConfigKey,
    eventType: env.events[0]?.detailType,
  };
  const out: Record<string, MessageAttributeValue> = {};
  for (const [k, v] of Object.entries(attrs)) if (v) out[k] = { DataType: 'String', StringValue: xmlSafe(v) };
  return out;
}

export function parseEnvelope(body: string): DlqEnvelope | undefined {
  try {
    const r = dlqEnvelopeSchema.safeParse(JSON.parse(body));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A message that is one of our own envelopes for this stage came back through SQS's native redrive
 * (StartMessageMoveTask moves bodies unchanged): process its original messages instead of failing
 * on the wrapper. Anything else is itself. A truncated original cannot be replayed as it was, so it
 * stays wrapped and fails validation again with its envelope intact.
 */
export function unwrapOwnEnvelope(body: string, stage: Stage, messageId: string): { body: string; messageId: string }[] {
  if (!body.includes('"nango-metadata-sync.failure"')) return [{ body, messageId }];
  const env = parseEnvelope(body);
  if (!env || env.stage !== stage || env.originals.length === 0 || env.originals.some((o) => o.truncated)) return [{ body, messageId }];
  return env.originals.map((o) => ({ body: o.body, messageId: o.messageId }));
}
