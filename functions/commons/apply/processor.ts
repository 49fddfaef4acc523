/**
 * The apply stage: sync messages in, at most one PATCH per connection (message group) and batch out.
 *
 * Per connection: read the desired state of the subjects its messages name (strongly consistent)
 * and what it was last sent; the keys in scope whose version is newer (every key in scope for a seed
 * or a repair) are the patch; no such key, no call. When every subject with keys in that patch had a
 * key rewritten after the group's syncs were queued, the rewrites' own syncs (behind these in the
 * group) send them later (see deferToLaterSync): a backlog costs about one PATCH per connection, not
 * one per change.
 * Otherwise one PATCH, then the applied versions are recorded. No GET to Nango, no bookkeeping key in the customer's metadata. Outcomes follow the
 * failure policy; a 404 `unknown_connection` drops the connection from the index and is parked only
 * where a subject names that connection explicitly (by id).
 *
 * Returns the ids of the records SQS must redeliver; every other record is done (applied, nothing to
 * send, or parked with its error).
 *
 * Not Powertools' SqsFifoPartialProcessor: it calls a handler per record, and one PATCH must serve
 * the whole group.
 */
import type { SQSRecord } from 'aws-lambda';
import { logger, subjectsForLog } from '#powertools/logger';
import { MetricName, MetricUnit, countBy, metrics } from '#powertools/metrics';
import { mapConcurrent } from '../concurrency.ts';
import { changesKeepComing, type DesiredKey, deferToLaterSync, desiredFor, planSync } from '../domain/desired.ts';
import { namesConnection } from '../domain/subject.ts';
import { unwrapOwnEnvelope } from '../dlq-envelope.ts';
import { groupRecords, receiveCount } from '../sqs-record.ts';
import { attemptsOf, classify, invalidInput, settle } from '../failure.ts';
import type { NangoPort } from '../nango/port.ts';
import type { QueuePort } from '../queues.ts';
import { defaultRetry, type RetryOptions, withRetries } from '../retry.ts';
import type { StatePort } from '../state/port.ts';
import { forcesFullSync, parseSync, type SyncMessage, type Target } from '../sync/message.ts';
import { parkSyncs, type Unit } from './park.ts';
import { BURST_WINDOW_MS, deferralTime, sendWaits, settleDelaySeconds } from './waits.ts';
import { assertAppliedFits, holdsForeignKeys, type Membership, memberSubjects, type TenancyDeps, withClearing } from './tenancy.ts';

export interface ApplyDeps {
  nango: Pick<NangoPort, 'patchMetadata'>;
  state: StatePort;
  queues: QueuePort;
  syncQueueUrl: string;
  syncDlqUrl: string;
  maxReceiveCount: number;
  groupConcurrency: number;
  /** How long a change sync may leave its keys to a later sync of the connection (0: never). */
  maxDeferMs: number;
  /**
   * The standard queue (route's ingress) that carries a deferral's deadline, delayed by `maxDeferMs`,
   * back to route, which forwards it to the sync queue. Without it nothing is deferred.
   */
  deadlineQueueUrl?: string | undefined;
  /** In-process retries (tests shorten the backoff). */
  retry?: Partial<Pick<RetryOptions, 'maxAttempts' | 'baseMs' | 'capMs' | 'minAttemptMs'>>;
  /** Membership checks, seed lookups and clearing; without it every named subject is sent (tests of other rules). */
  tenancy?: TenancyDeps;
}

export interface ApplyResult {
  failedRecordIds: string[];
  /** Connections PATCHed. */
  patched: number;
  noop: number;
  /** Connections left to later syncs: every subject with keys to send had one rewritten after their syncs were queued. */
  deferred: number;
  dlq: number;
}

export async function applyRecords(records: readonly SQSRecord[], deps: ApplyDeps, deadline: number): Promise<ApplyResult> {
  const result: ApplyResult = { failedRecordIds: [], patched: 0, noop: 0, deferred: 0, dlq: 0 };
  metrics.addMetric(MetricName.SyncMessagesReceived, MetricUnit.Count, records.length);
  const desiredOf = sharedReads(deps.state);
  await mapConcurrent(groupRecords(records), deps.groupConcurrency, (group) => applyGroup(group, deps, desiredOf, deadline, result));
  // An envelope record carries several syncs: name it once.
  result.failedRecordIds = [...new Set(result.failedRecordIds)];
  return result;
}

type DesiredReader = (subject: string, fresh: boolean) => Promise<DesiredKey[]>;

/**
 * One strongly consistent read of a subject per invocation: the connections of one customer (a
 * group each) share it. The batch arrived before the first read, and route writes before it queues,
 * so the read holds every write its syncs stand for; what came after has syncs of its own. A retry
 * (`fresh`) reads again; a failed read is not kept.
 */
function sharedReads(state: StatePort): DesiredReader {
  const reads = new Map<string, Promise<DesiredKey[]>>();
  return (subject, fresh) => {
    let read = fresh ? undefined : reads.get(subject);
    if (!read) {
      const mine = state.readDesired(subject);
      mine.catch(() => reads.get(subject) === mine && reads.delete(subject));
      reads.set(subject, mine);
      read = mine;
    }
    return read;
  };
}

/** The group's usable syncs; unreadable ones are parked. Stops (handing back the rest) if parking fails. */
async function readGroup(records: SQSRecord[], deps: ApplyDeps, result: ApplyResult): Promise<Unit[]> {
  const units: Unit[] = [];
  let target: Target | undefined;
  for (const [i, record] of records.entries()) {
    for (const one of unwrapOwnEnvelope(record.body, 'apply', record.messageId)) {
      const parsed = parseSync(one.body);
      if (parsed.ok) target ??= parsed.message.target;
      if (parsed.ok && target && sameConnection(target, parsed.message.target)) {
        units.push({ record, ...one, message: parsed.message });
        continue;
      }
      const message = parsed.ok ? 'sync message target does not match its message group' : parsed.error;
      if (await parkSyncs(deps, invalidInput({ code: 'invalid_sync_message', message }), [{ record, ...one }], 1)) {
        result.dlq++;
        continue;
      }
      // Earlier records are still applied; this one and the rest wait for redelivery, in order.
      result.failedRecordIds.push(...records.slice(i).map((r) => r.messageId));
      return units.filter((u) => records.indexOf(u.record) < i);
    }
  }
  return units;
}

async function applyGroup(
  records: SQSRecord[],
  deps: ApplyDeps,
  desiredOf: DesiredReader,
  deadline: number,
  result: ApplyResult,
): Promise<void> {
  if (Date.now() + 500 > deadline) {
    result.failedRecordIds.push(...records.map((r) => r.messageId));
    return;
  }
  const units = await readGroup(records, deps, result);
  const messages = units.map((u) => u.message!);
  const target = messages[0]?.target;
  if (!target) return;
  const subjects = [...new Set(messages.flatMap((m) => m.subjects))];
  const lookup = messages.some((m) => m.lookup === true);
  const force = messages.some(forcesFullSync);
  const correlation_id = messages.flatMap((m) => m.events).at(-1)?.id ?? units[0]!.messageId;
  const queuedAt = force ? undefined : deferralTime(units);
  const settling = messages.some((m) => m.reason === 'settle');
  // A sweep's seeds on their first receive (a later one may be the last, which parks): they may wait
  // for the membership their page writes once they are queued.
  const sweepSeed =
    !lookup && deps.maxReceiveCount > 1 && messages.every((m) => m.reason === 'seed') && units.every((u) => receiveCount(u.record) === 1);
  // The dues recorded for the settles being applied, per subject: a due on record among them is theirs.
  const ownDue = new Set(
    messages.flatMap((m) => (m.reason === 'settle' && m.dueAt !== undefined ? m.subjects.map((s) => `${m.dueAt}\n${s}`) : [])),
  );
  const events = new Set(messages.flatMap((m) => m.events.map((e) => e.id))).size;
  const behindMs = Math.max(0, ...messages.map((m) => m.behindMs ?? 0));
  let planned: DesiredKey[] = [];
  let deferred = false;
  try {
    const { attempts } = await withRetries(
      async (attempt) => {
        const [member, applied] = await Promise.all([
          deps.tenancy
            ? memberSubjects(deps.tenancy, target, subjects, lookup, deadline, { sweepSeed, attempt })
            : Promise.resolve<Membership>({ subjects, current: undefined, gone: false }),
          deps.state.readApplied(target),
        ]);
        // Keys from a subject the connection left: its whole state is sent, and those keys cleared.
        const foreign = holdsForeignKeys(applied, member.current);
        // A connection created again under the id holds none of the keys recorded (read before the
        // lookup forgot them): all in scope are sent now, never left to a later sync.
        const whole = foreign || member.recreated === true;
        if (!whole && restsOnSettle(messages, member.subjects, queuedAt, applied.settleDue, Date.now())) {
          // A settle on its way for every subject reads the state after these syncs' writes and sends
          // it (or waits again, within the bound): nothing to read or decide here.
          deferred = true;
          planned = [];
          return;
        }
        const read = foreign ? member.current! : member.subjects;
        const desired = await Promise.all(read.map((s) => desiredOf(s, attempt > 1)));
        const want = desiredFor(desired.flat(), target.providerConfigKey);
        const plan = planSync(want, applied.keys, force || whole);
        const clearing = withClearing(plan.patch, plan.keys, want, applied, member.current);
        const now = Date.now();
        const maxDeferMs = deps.deadlineQueueUrl ? deps.maxDeferMs : 0;
        const d = { queuedAt, deferredSince: applied.deferredSince, now, maxDeferMs };
        // A connection holding a left subject's keys is cleared now, never left to a later sync.
        const settleSeconds = settleDelaySeconds(behindMs, maxDeferMs);
        // What is left of the wait's bound for the subjects it would hold: a settle due after it would
        // outlive the bound, so the keys go now instead.
        const leftMs = Math.min(...plan.keys.map((k) => (applied.deferredSince[k.subject] ?? now) + maxDeferMs - now));
        const later = !whole && deferToLaterSync(plan.keys, d) && leftMs >= settleSeconds * 1000;
        // A settle waits again only if changes came while it was on its way (`later`, from its queue time).
        const burst =
          !whole &&
          !later &&
          !settling &&
          leftMs >= settleSeconds * 1000 &&
          changesKeepComing(plan.keys, want.values(), {
            ...d,
            windowMs: Math.max(BURST_WINDOW_MS, behindMs),
            events,
            sentAt: applied.sentAt,
          });
        deferred = later || burst;
        if (deferred) {
          const waiting = [...new Set(plan.keys.map((k) => k.subject))];
          const fresh = waiting.filter((s) => applied.deferredSince[s] === undefined);
          // A wait no later sync ends rests on a settle on its way: one per subject, unless one already is.
          // The settle is its deadline (a delayed message that exists; it waits again only with the next
          // on its way, and never past maxDeferMs).
          const due = applied.settleDue ?? {};
          // A settle being applied never rests on its own due: set by a host whose clock ran ahead of this
          // one's, it may still lie ahead here, with nothing left on its way.
          const unsettled = waiting.filter((s) => !((due[s] ?? 0) > now) || ownDue.has(`${due[s]}\n${s}`));
          const dueAt = now + settleSeconds * 1000;
          const deadlines: string[] = [];
          const refs = messages.flatMap((m) => m.events);
          deferred = await sendWaits(
            deps,
            target,
            { deadline: deadlines, settle: unsettled, settleSeconds, dueAt, behindMs, refs },
            correlation_id,
          );
          if (deferred) await deps.state.markDeferred(target, fresh, now, { subjects: unsettled, due: dueAt });
        }
        planned = deferred ? [] : plan.keys;
        if (deferred) return;
        if (!clearing.patch) {
          // Nothing left to send for these subjects: whatever waited was sent by another sync.
          const waited = subjects.filter((s) => applied.deferredSince[s] !== undefined);
          if (waited.length) await deps.state.recordApplied(target, {}, waited);
          return;
        }
        assertAppliedFits(applied, plan.applied, clearing.sources);
        await deps.nango.patchMetadata(target, clearing.patch, { deadline });
        const firstDeferred = Math.min(...subjects.map((s) => applied.deferredSince[s] ?? Number.POSITIVE_INFINITY));
        if (Number.isFinite(firstDeferred)) metrics.addMetric(MetricName.DeferredWait, MetricUnit.Milliseconds, Date.now() - firstDeferred);
        // Every subject read: what any of them had waiting is in this PATCH. The PATCH is made: its
        // record is retried alone (it only sets what was sent), so a failed write does not send it again.
        await withRetries(
          () => deps.state.recordApplied(target, plan.applied, subjects, clearing).catch((e: unknown) => Promise.reject(classify(e))),
          { ...defaultRetry, ...deps.retry, deadline },
        );
      },
      // A PATCH that timed out or was cut may still run at Nango, which reads then writes: a second one
      // now could interleave with it and lose keys. It goes back to SQS, long after the first finished.
      { ...defaultRetry, ...deps.retry, deadline, retryHere: (e) => e.code !== 'timeout' && e.code !== 'network_error' },
    );
    if (planned.length) {
      result.patched++;
      metrics.addMetric(MetricName.SyncsApplied, MetricUnit.Count, 1);
      metrics.addMetric(MetricName.KeysApplied, MetricUnit.Count, planned.length);
      logger.info('metadata patched', {
        correlation_id,
        syncs: units.length,
        keys: planned.slice(0, 100).map((k) => k.key),
        keyCount: planned.length,
        attempts,
        force,
        reasons: [...new Set(messages.map((m) => m.reason))],
      });
    } else if (deferred) {
      result.deferred++;
      metrics.addMetric(MetricName.SyncsDeferred, MetricUnit.Count, 1);
      logger.debug('keys rewritten since these syncs were queued: the later sync sends them', { correlation_id, syncs: units.length });
    } else {
      result.noop++;
      metrics.addMetric(MetricName.SyncsNoop, MetricUnit.Count, 1);
      logger.debug('nothing to send: the connection has every key', { correlation_id, syncs: units.length });
    }
  } catch (e) {
    const error = classify(e);
    countBy(MetricName.NangoErrors, { code: error.code });
    if (error.code === 'unknown_connection') {
      await Promise.all([
        ...subjects.map((s) => deps.state.removeFromIndex(s, target).catch(() => undefined)),
        deps.state.forgetApplied(target).catch(() => undefined),
        deps.tenancy?.members.forgetMember(target).catch(() => undefined),
      ]);
      // Parked only when a subject that names this connection by id had something to send it.
      if (!planned.some((k) => namesConnection(k.subject))) {
        logger.warn('connection gone from Nango: dropped from the index', { correlation_id, subjects: subjectsForLog(subjects) });
        return;
      }
    }
    const { park, handBack, visibilitySeconds } = settle(units, error, (u) => u.record, deps.maxReceiveCount);
    if (park.length) {
      logger.warn(
        error.retryable ? 'transient failure on the last allowed attempt; parked in the DLQ' : 'sync refused; parked in the DLQ',
        {
          correlation_id,
          code: error.code,
          status: error.status,
          error: error.message,
        },
      );
      if (
        await parkSyncs(
          deps,
          error.toRecord(),
          park,
          attemptsOf(e),
          planned.map((k) => k.key),
        )
      )
        result.dlq += park.length;
      else handBack.unshift(...park);
    }
    if (!handBack.length) return;
    logger.warn('transient failure; handed back to SQS', { correlation_id, code: error.code, error: error.message, visibilitySeconds });
    result.failedRecordIds.push(...handBack.map((u) => u.record.messageId));
    if (visibilitySeconds === undefined) return;
    const handles = [...new Set(handBack.map((u) => u.record.receiptHandle))];
    await Promise.all(
      handles.map((h) =>
        deps.queues.changeVisibility(deps.syncQueueUrl, h, visibilitySeconds).catch((ve: Error) => {
          logger.warn('could not set the visibility Retry-After asked for; the queue default applies', {
            correlation_id,
            error: ve.message,
          });
        }),
      ),
    );
  }
}

/**
 * Whether change syncs can leave everything to the settles on their way: each subject they may send
 * has a settle due later than now (so delivered after these syncs' keys were written, which happened
 * before they were queued), and none of them may skip a wait (a resent sync has no queue time).
 */
export function restsOnSettle(
  messages: readonly SyncMessage[],
  subjects: readonly string[],
  queuedAt: number | undefined,
  settleDue: Readonly<Record<string, number>> | undefined,
  now: number,
): boolean {
  if (queuedAt === undefined || subjects.length === 0 || !settleDue) return false;
  if (!messages.every((m) => m.reason === 'change' && m.lookup !== true)) return false;
  return subjects.every((s) => (settleDue[s] ?? 0) > now);
}

const sameConnection = (a: Target, b: Target) => a.connectionId === b.connectionId && a.providerConfigKey === b.providerConfigKey;
