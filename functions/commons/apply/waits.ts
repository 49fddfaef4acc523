/**
 * What a wait in apply rests on: the `deadline` and `settle` syncs that end it by themselves, how long
 * a debounce's quiet period lasts, and which syncs may wait at all (deferralTime). Apply's processor
 * decides to wait; this module makes sure the wait cannot outlive its bound.
 */
import { logger } from '#powertools/logger';
import type { QueuePort } from '../queues.ts';
import { type EventRef, MAX_SUBJECTS_PER_SYNC, syncMessage, type Target } from '../sync/message.ts';
import type { Unit } from './park.ts';

/** What sending a wait's syncs needs: the queue they go through (route forwards them) and the wait's bound. */
export interface WaitDeps {
  queues: Pick<QueuePort, 'sendBatch'>;
  deadlineQueueUrl?: string;
  maxDeferMs: number;
}

/** SQS delays a standard queue's message at most 15 minutes. */
const MAX_DELAY_SECONDS = 900;
/**
 * A debounce's quiet period: a settle comes back this long after it was queued (then route's hop),
 * and sends unless the connection's keys changed meanwhile. At least the shortest delay SQS has; as
 * long as route is behind (the burst's later events may still wait in the ingress queue that long),
 * up to SETTLE_MAX_SECONDS, and never past the wait's own bound.
 */
const SETTLE_SECONDS = 1;
const SETTLE_MAX_SECONDS = 10;
export const settleDelaySeconds = (behindMs: number, maxDeferMs: number): number =>
  Math.max(SETTLE_SECONDS, Math.min(SETTLE_MAX_SECONDS, Math.ceil(behindMs / 1000), Math.ceil(maxDeferMs / 1000)));
/**
 * Two writes of a connection's keys this close together are a burst, not a trickle: the sync waits
 * for it to settle. Wider while route is behind: its writes of one burst are then spread as far.
 */
export const BURST_WINDOW_MS = 2_000;

/**
 * Sends what the waits about to begin rest on: for new waits a `deadline` sync per (at most 20)
 * subjects, delayed by the longest wait, which reaches the connection's group whatever becomes of the
 * rewrites the wait counts on and sends whatever is still waiting then (nothing, if a later sync
 * did); for waits no later sync ends a `settle`, delayed `settleSeconds`, stamped with its queue time.
 * False when they could not be sent: the caller then sends now rather than wait on a promise.
 */
export async function sendWaits(
  deps: WaitDeps,
  target: Target,
  subjects: {
    deadline: readonly string[];
    settle: readonly string[];
    settleSeconds: number;
    /** The due recorded for the settles (`u:<subject>`): each carries it, to tell its own due from a later settle's. */
    dueAt?: number;
    behindMs: number;
    refs: readonly EventRef[];
  },
  correlation_id: string,
): Promise<boolean> {
  const messages: { id: string; body: string; delaySeconds: number }[] = [];
  const add = (list: readonly string[], reason: 'deadline' | 'settle', delaySeconds: number) => {
    for (let i = 0; i < list.length; i += MAX_SUBJECTS_PER_SYNC) {
      const chunk = list.slice(i, i + MAX_SUBJECTS_PER_SYNC);
      const settle = reason === 'settle';
      const body = JSON.stringify(
        // A settle names the latest events it stands for: the DLQ envelope and the logs show them if it fails.
        settle
          ? {
              ...syncMessage(
                target,
                chunk,
                reason,
                [...new Map(subjects.refs.map((e) => [e.id, e])).values()].slice(-10),
                Date.now(),
                subjects.behindMs,
              ),
              ...(subjects.dueAt === undefined ? {} : { dueAt: subjects.dueAt }),
            }
          : syncMessage(target, chunk, reason),
      );
      messages.push({ id: String(messages.length), body, delaySeconds });
    }
  };
  add(subjects.deadline, 'deadline', Math.min(MAX_DELAY_SECONDS, Math.ceil(deps.maxDeferMs / 1000)));
  add(subjects.settle, 'settle', subjects.settleSeconds);
  if (messages.length === 0) return true;
  try {
    const failures = await deps.queues.sendBatch(deps.deadlineQueueUrl!, messages);
    if (failures.length === 0) return true;
    logger.warn("could not queue the wait's deadline or settle sync; sending now", { correlation_id, code: failures[0]!.code });
  } catch (e) {
    logger.warn("could not queue the wait's deadline or settle sync; sending now", { correlation_id, error: (e as Error).message });
  }
  return false;
}

/**
 * A sync that reached SQS this long after route queued it was sent again (moved back from the DLQ):
 * the rewrites after its queue time may have failed too, so it never defers. (The DLQ tool also
 * drops `queuedAt` from what it replays, and an envelope moved back whole is never deferred.)
 */
const RESENT_AFTER_MS = 60_000;

/** The latest queue time of the group's syncs, when each is a change or a settle sent as queued; else undefined (never defer). */
export function deferralTime(units: readonly Unit[]): number | undefined {
  let latest: number | undefined;
  for (const u of units) {
    const fromEnvelope = u.body !== u.record.body;
    const reason = u.message?.reason;
    const queuedAt = (reason === 'change' || reason === 'settle') && !fromEnvelope ? u.message?.queuedAt : undefined;
    const sent = Number(u.record.attributes?.SentTimestamp);
    if (queuedAt === undefined || !Number.isFinite(sent) || sent - queuedAt > RESENT_AFTER_MS) return undefined;
    latest = Math.max(latest ?? 0, queuedAt);
  }
  return latest;
}
