/**
 * The apply stage: patches FIFO records in, Nango PATCHes out, one connection (message group) at a
 * time, groups in parallel.
 *
 * Per group, in order: the patches are coalesced into one PATCH (shallow merge, later wins) and sent
 * with short retries inside the time left. Then:
 * - success: every message of the group is done;
 * - permanent error (400, 403, 404, 413, 415, a bad id, a second 401): a DLQ envelope with Nango's
 *   error, and the messages are done (deleted) — later events for the connection still apply;
 * - transient error (429, 5xx, timeout, reset): messages on their last allowed receive go to the DLQ
 *   with the last error; the others are reported failed so SQS redelivers them in order, and a 429's
 *   Retry-After becomes their visibility timeout.
 * The returned ids are the records SQS must redeliver; everything else may be deleted.
 *
 * Not Powertools' SqsFifoPartialProcessor: it calls a handler per record, and coalescing needs the
 * whole group at once (one PATCH for many records, one outcome for all of them).
 */
import { createHash } from 'node:crypto';
import type { SQSRecord } from 'aws-lambda';
import type { MetadataPatch } from '#events/define';
import { logger } from '#powertools/logger';
import { MetricName, MetricUnit, countBy, metrics } from '#powertools/metrics';
import { coalesce } from '../coalesce.ts';
import { planGuardedPatch, readVersions } from './ordering.ts';
import { receiveCount } from '../sqs-record.ts';
import { buildEnvelope, envelopeAttributes, unwrapOwnEnvelope, type Failure } from '../dlq-envelope.ts';
import { NangoError, errorFromException } from '../nango/errors.ts';
import type { NangoPort } from '../nango/port.ts';
import { connectionKey, patchMessageSchema, type PatchMessage } from '../patch-message.ts';
import type { QueuePort } from '../queues.ts';
import { AttemptsExhausted, defaultRetry, withRetries } from '../retry.ts';

export interface ApplyDeps {
  nango: NangoPort;
  queues: QueuePort;
  patchesQueueUrl: string;
  patchesDlqUrl: string;
  maxReceiveCount: number;
  groupConcurrency: number;
  ordering: 'event-time' | 'arrival';
  retry?: Partial<typeof defaultRetry>;
}

interface Parsed {
  record: SQSRecord;
  message: PatchMessage;
  /** The patch message itself: the record's body, or one original of an envelope it carried. */
  body: string;
  messageId: string;
}

export interface ApplyResult {
  failedRecordIds: string[];
  applied: number;
  dlq: number;
}

/** Messages grouped by MessageGroupId, each group in batch order (which is FIFO order). */
export function groupRecords(records: readonly SQSRecord[]): SQSRecord[][] {
  const groups = new Map<string, SQSRecord[]>();
  for (const r of records) {
    const g = r.attributes?.MessageGroupId ?? r.messageId;
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(r);
  }
  return [...groups.values()];
}

export async function applyRecords(records: readonly SQSRecord[], deps: ApplyDeps, deadline: number): Promise<ApplyResult> {
  const result: ApplyResult = { failedRecordIds: [], applied: 0, dlq: 0 };
  const groups = groupRecords(records);
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const group = groups[next++]!;
      await applyGroup(group, deps, deadline, result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.groupConcurrency, groups.length) }, worker));
  // An envelope record carries several patches: name it once.
  result.failedRecordIds = [...new Set(result.failedRecordIds)];
  return result;
}

async function applyGroup(records: SQSRecord[], deps: ApplyDeps, deadline: number, result: ApplyResult): Promise<void> {
  // Out of time before starting: hand the whole group back untouched.
  if (Date.now() + 500 > deadline) {
    result.failedRecordIds.push(...records.map((r) => r.messageId));
    return;
  }
  // Unreadable messages (and, as a guard, any whose target is not the group's) are parked; no retry
  // fixes them. If parking fails, that record and every later one of the group go back to SQS, in order.
  const parsed: Parsed[] = [];
  const unusable = async (record: SQSRecord, one: { body: string; messageId: string }, message: string): Promise<boolean> => {
    if (await writeDlq(deps, { code: 'invalid_patch_message', message, retryable: false }, [{ record, ...one }], 1)) {
      result.dlq++;
      return true;
    }
    const from = records.indexOf(record);
    result.failedRecordIds.push(...records.slice(from).map((r) => r.messageId));
    return false;
  };
  let target: PatchMessage['target'] | undefined;
  scan: for (const [i, record] of records.entries()) {
    for (const one of unwrapOwnEnvelope(record.body, 'apply', record.messageId)) {
      const m = parseMessage(one.body);
      if (m.ok) {
        target ??= m.message.target;
        if (m.message.target.connectionId === target.connectionId && m.message.target.providerConfigKey === target.providerConfigKey) {
          parsed.push({ record, message: m.message, ...one });
          continue;
        }
      }
      if (!(await unusable(record, one, m.ok ? 'message target does not match its message group' : m.message))) {
        // Earlier records are still applied below; this one and the rest wait for redelivery.
        records = records.slice(0, i);
        break scan;
      }
    }
  }
  const run = parsed.filter((p) => records.includes(p.record));
  if (run.length === 0 || !target) return;

  const messages = run.map((p) => p.message);
  const correlation_id = run[run.length - 1]!.message.event.id;
  const started = performance.now();
  try {
    let staleKeys = 0;
    const { attempts } = await withRetries(
      async () => {
        if (deps.ordering === 'arrival')
          return deps.nango.patchMetadata(target, coalesce(messages.map((m) => m.patch as MetadataPatch)), { deadline });
        const plan = planGuardedPatch(messages, readVersions(await deps.nango.getMetadata(target, { deadline })));
        staleKeys = plan.staleKeys;
        if (plan.patch) await deps.nango.patchMetadata(target, plan.patch, { deadline });
      },
      { ...defaultRetry, ...deps.retry, deadline },
    );
    result.applied += run.length;
    metrics.addMetric(MetricName.PatchesApplied, MetricUnit.Count, run.length);
    if (run.length > 1) metrics.addMetric(MetricName.PatchesCoalesced, MetricUnit.Count, run.length - 1);
    if (staleKeys) metrics.addMetric(MetricName.StaleKeysSkipped, MetricUnit.Count, staleKeys);
    logger.info('metadata patched', {
      correlation_id,
      events: run.length,
      attempts,
      staleKeys,
      ms: Math.round(performance.now() - started),
    });
    return;
  } catch (e) {
    const cause = e instanceof AttemptsExhausted ? e.cause : e;
    const attempts = e instanceof AttemptsExhausted ? e.attempts : 1;
    const err = cause instanceof NangoError ? cause : errorFromException(cause);
    countBy(MetricName.NangoErrors, { code: err.code });
    if (!err.retryable) {
      logger.warn('patch refused by Nango; parked in the DLQ', { correlation_id, code: err.code, status: err.status, error: err.message });
      if (await writeDlq(deps, err.toFailure(), run, attempts)) result.dlq += run.length;
      else result.failedRecordIds.push(...run.map((p) => p.record.messageId));
      return;
    }
    // Transient: the last allowed receive parks its messages with the last error; the rest go back.
    const last = run.filter((p) => receiveCount(p.record) >= deps.maxReceiveCount);
    const back = run.filter((p) => !last.includes(p));
    if (last.length) {
      logger.warn('transient failure on the last allowed attempt; parked in the DLQ', {
        correlation_id,
        code: err.code,
        error: err.message,
      });
      if (await writeDlq(deps, err.toFailure(), last, attempts)) result.dlq += last.length;
      else back.unshift(...last);
    }
    logger.warn('transient failure; handed back to SQS', {
      correlation_id,
      code: err.code,
      error: err.message,
      messages: back.length,
      retryAfterMs: err.retryAfterMs,
    });
    result.failedRecordIds.push(...back.map((p) => p.record.messageId));
    if (err.retryAfterMs !== undefined && back.length) {
      const seconds = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
      await Promise.all(
        back.map((p) =>
          deps.queues.changeVisibility(deps.patchesQueueUrl, p.record.receiptHandle, seconds).catch((ve: Error) => {
            logger.warn('could not set visibility after 429; SQS default applies', { correlation_id, error: ve.message });
          }),
        ),
      );
    }
  }
}

function parseMessage(body: string): { ok: true; message: PatchMessage } | { ok: false; message: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { ok: false, message: 'message body is not JSON' };
  }
  let r: ReturnType<typeof patchMessageSchema.safeParse>;
  try {
    r = patchMessageSchema.safeParse(raw);
  } catch (e) {
    // z.json() recurses: a deeply nested patch overflows the stack (RangeError), which would fail the whole batch.
    return { ok: false, message: `not a patch message: ${(e as Error).message}` };
  }
  return r.success
    ? { ok: true, message: r.data }
    : { ok: false, message: `not a patch message: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
}

/** One envelope for the messages that failed together; true when the DLQ accepted it. */
async function writeDlq(
  deps: ApplyDeps,
  error: Failure,
  items: { record: SQSRecord; message?: PatchMessage; body: string; messageId: string }[],
  attempts: number,
): Promise<boolean> {
  const messages = items.map((i) => i.message).filter((m): m is PatchMessage => m !== undefined);
  const target = messages[0]?.target;
  const times = items.map((i) => Number(i.record.attributes?.ApproximateFirstReceiveTimestamp)).filter((n) => Number.isFinite(n) && n > 0);
  const now = new Date();
  const env = buildEnvelope({
    stage: 'apply',
    error,
    target,
    patch: messages.length ? coalesce(messages.map((m) => m.patch as MetadataPatch)) : undefined,
    events: messages.map((m) => m.event),
    attempts: Math.max(attempts, ...items.map((i) => receiveCount(i.record))),
    firstFailureAt: times.length ? new Date(Math.min(...times)) : now,
    lastFailureAt: now,
    originals: items.map((i) => ({
      messageId: i.messageId,
      body: i.body,
      ...(i.record.attributes?.MessageGroupId ? { messageGroupId: i.record.attributes.MessageGroupId } : {}),
    })),
  });
  const group = target ? connectionKey(target) : (items[0]?.record.attributes?.MessageGroupId ?? 'unparseable');
  try {
    await deps.queues.send(deps.patchesDlqUrl, {
      body: JSON.stringify(env),
      attributes: envelopeAttributes(env),
      groupId: group,
      // Same messages parked twice within SQS's dedupe window (a crash after the write) count once.
      deduplicationId: createHash('sha256')
        .update(items.map((i) => `${i.record.messageId}/${i.messageId}`).join('\n'))
        .digest('hex'),
    });
    countBy(MetricName.DlqWrites, { stage: 'apply', code: error.code });
    return true;
  } catch (e) {
    logger.error('patches DLQ write failed; the messages will be retried', { error: (e as Error).message });
    return false;
  }
}
