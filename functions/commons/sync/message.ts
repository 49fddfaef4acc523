/**
 * The message on the sync FIFO queue: "bring this connection in step with these subjects". Small on
 * purpose: it names no values, so apply always sends the latest desired state and a replayed or
 * late message can never write old data. Group = connection (Nango loses one of two concurrent
 * PATCHes to a connection); deduplication = what caused it, so a retried producer sends it once.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { connectionIdSchema, providerConfigKeySchema } from '#events/ids';

// The schemas here are built on their first parse (`z.lazy`), not at a cold start's import.
export const targetSchema = z.lazy(() => z.object({ connectionId: connectionIdSchema, providerConfigKey: providerConfigKeySchema }));
export type Target = z.output<typeof targetSchema>;

export const eventRefSchema = z.lazy(() =>
  z.object({
    id: z.string().max(512),
    source: z.string().max(256),
    detailType: z.string().max(256),
    time: z.string().max(64),
  }),
);
export type EventRef = z.output<typeof eventRefSchema>;

/**
 * `change`: keys changed at route; `seed`: a new connection (webhook); `repair`: drift found by
 * reconcile; `replay`: sent again by the DLQ tool; `deadline`: the end of a deferral (apply sends it,
 * delayed, through the ingress queue when it first leaves a connection's keys to later syncs);
 * `settle`: the end of a debounce (apply sends it, delayed 1 to 10 s as far as route is behind, the same way, when it leaves
 * keys while a connection's changes keep coming; it sends them unless more came meanwhile).
 */
export const SYNC_REASONS = ['change', 'seed', 'repair', 'replay', 'deadline', 'settle'] as const;
export type SyncReason = (typeof SYNC_REASONS)[number];

export const MAX_SUBJECTS_PER_SYNC = 20;

/** Subjects as sync messages take them: at most MAX_SUBJECTS_PER_SYNC each (syncMessage keeps no more). */
export const subjectChunks = (subjects: readonly string[]): string[][] =>
  Array.from({ length: Math.max(1, Math.ceil(subjects.length / MAX_SUBJECTS_PER_SYNC)) }, (_, i) =>
    subjects.slice(i * MAX_SUBJECTS_PER_SYNC, (i + 1) * MAX_SUBJECTS_PER_SYNC),
  );

export const syncMessageSchema = z.lazy(() =>
  z
    .object({
      v: z.literal(2),
      kind: z.literal('sync'),
      target: targetSchema,
      /** Empty only for a seed `lookup`: apply then finds the connection's subjects itself. */
      subjects: z.array(z.string().min(1).max(1_100)).max(MAX_SUBJECTS_PER_SYNC),
      reason: z.enum(SYNC_REASONS),
      /** The events behind a `change`, for the DLQ envelope and logs (at most a few). */
      events: z.array(eventRefSchema).max(10).default([]),
      /**
       * For a `change`: when route queued it (epoch ms), at or after every key write behind it. Apply
       * leaves to later syncs what was rewritten after this time. For a `settle`: when apply queued it.
       */
      queuedAt: z.number().int().nonnegative().optional(),
      /**
       * For a `change`: how long the oldest event behind it waited in the ingress queue before route
       * queued it (epoch ms apart): how far route is behind, so how long more of a burst may still be
       * on its way. A `settle` carries the one its wait was sized by.
       */
      behindMs: z.number().int().nonnegative().optional(),
      /**
       * For a `settle`: the due apply recorded for it (`u:<subject>`, epoch ms by apply's clock). Applied,
       * a settle that finds this due still on record counts it as its own, however far ahead it lies.
       */
      dueAt: z.number().int().nonnegative().optional(),
      /**
       * A seed from a webhook: a hint, not a fact. Apply reads the connection as Nango lists it now (one
       * list call by connection id), updates its membership and indexes, then seeds its subjects.
       */
      lookup: z.literal(true).optional(),
    })
    .refine((m) => m.subjects.length > 0 || m.lookup === true, {
      message: 'a sync names at least one subject, unless it is a lookup',
      path: ['subjects'],
    }),
);
export type SyncMessage = z.output<typeof syncMessageSchema>;

/** Seeds and repairs send every key in scope, whatever the applied state says. */
export const forcesFullSync = (m: Pick<SyncMessage, 'reason'>): boolean => m.reason === 'seed' || m.reason === 'repair';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * SQS group ids allow 128 printable ASCII characters; connection ids allow spaces and 255
 * characters, so the group is a digest of the pair (stable, collision-free in practice).
 */
export const connectionKey = (t: Target): string => sha256(`${t.providerConfigKey}\n${t.connectionId}`);

/** A deduplication id from the connection and what caused the sync (at most 128 characters of [!-~]). */
export const syncDeduplicationId = (t: Target, cause: string): string => sha256(`${connectionKey(t)}\n${cause}`);

export function syncMessage(
  target: Target,
  subjects: readonly string[],
  reason: SyncReason,
  events: readonly EventRef[] = [],
  queuedAt?: number,
  behindMs?: number,
): SyncMessage {
  return {
    v: 2,
    kind: 'sync',
    target,
    subjects: [...new Set(subjects)].slice(0, MAX_SUBJECTS_PER_SYNC),
    reason,
    events: events.slice(0, 10),
    ...(queuedAt === undefined ? {} : { queuedAt }),
    ...(behindMs === undefined ? {} : { behindMs: Math.max(0, Math.round(behindMs)) }),
  };
}

/**
 * A deferral's deadline or a debounce's settle as it travels through the ingress queue (a standard
 * queue, so it can be delayed per message): a sync message with reason `deadline` or `settle`, which
 * route forwards to the sync queue. Undefined for anything else (events).
 */
export function parseForwarded(body: string): SyncMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || (raw as { kind?: unknown }).kind !== 'sync') return undefined;
  const r = syncMessageSchema.safeParse(raw);
  return r.success && (r.data.reason === 'deadline' || r.data.reason === 'settle') ? r.data : undefined;
}

/** A sync message body, or why it is not one (bounded: it goes into a DLQ envelope). */
export function parseSync(body: string): { ok: true; message: SyncMessage } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { ok: false, error: 'message body is not JSON' };
  }
  const r = syncMessageSchema.safeParse(raw);
  return r.success
    ? { ok: true, message: r.data }
    : {
        ok: false,
        error: `not a sync message: ${r.error.issues
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')
          .slice(0, 1_000)}`,
      };
}
