/**
 * The route stage: events in; desired state written; one small sync message per affected connection
 * out on the sync FIFO (group = connection). Invalid events go to the ingress DLQ at once.
 *
 * Per event: validate and map (pure); write each key only if its version is newer (stale keys are
 * dropped and counted); when a key changed, find the subject's connections (index, or Nango on a
 * miss) and queue a sync for each connection in the keys' scope. A subject without connections is
 * not an error: its state waits for the webhook or reconcile. Syncs of one batch are merged per
 * connection. Returns the ids of the records SQS must redeliver (see the failure policy).
 *
 * Not Powertools' BatchProcessor: syncs of many records are merged and sent together, which a
 * per-record handler cannot do.
 */
import type { SQSRecord } from 'aws-lambda';
import type { EventDefinition } from '#events/define';
import { logger, subjectForLog } from '#powertools/logger';
import { MetricName, MetricUnit, metrics } from '#powertools/metrics';
import { mapConcurrent } from '../concurrency.ts';
import { groupOrderOf } from '../domain/order.ts';
import { inScope, type Subject } from '../domain/subject.ts';
import { boundFailure, type FailureRecord, unwrapOwnEnvelope } from '../dlq-envelope.ts';
import { type DomainEvent, parseEventBody } from '../event-envelope.ts';
import { attemptsOf, classify, Failure, invalidInput, settle } from '../failure.ts';
import type { QueuePort } from '../queues.ts';
import { defaultRetry, withRetries } from '../retry.ts';
import type { StatePort } from '../state/port.ts';
import {
  connectionKey,
  type EventRef,
  parseForwarded,
  type SyncMessage,
  syncDeduplicationId,
  subjectChunks,
  syncMessage,
  type Target,
} from '../sync/message.ts';
import type { ConnectionIndex } from './connections.ts';
import { type MapLimits, type Mapped, mapEvent } from './map-event.ts';
import { parkEvent } from './park.ts';

export interface RouteDeps {
  catalog: ReadonlyMap<string, EventDefinition>;
  state: StatePort;
  index: ConnectionIndex;
  queues: QueuePort;
  syncQueueUrl: string;
  ingressDlqUrl: string;
  /** Where a Retry-After becomes the visibility of a handed-back record (absent for direct EventBridge invocations). */
  ingressQueueUrl?: string | undefined;
  /** The ingress queue's redrive maxReceiveCount: its last receive parks transient failures itself. */
  maxReceiveCount: number;
  limits: Omit<MapLimits, 'now'>;
  /** Events processed at once within one invocation (default ROUTE_CONCURRENCY). */
  concurrency?: number;
  /** Where a subject whose keys were written with no connection is noted (the sweep's daily check reads them). */
  unmatched?: { note(subject: string, at: number): Promise<void> };
}

export interface RouteResult {
  failedRecordIds: string[];
  synced: number;
  invalid: number;
  stale: number;
}

interface Item {
  record: SQSRecord;
  body: string;
  event: DomainEvent;
}

interface PendingSync {
  target: Target;
  /** subject -> what caused a sync of it (its written keys and their orders). */
  causes: Map<string, string[]>;
  events: EventRef[];
  items: Set<Item>;
}

export async function routeRecords(records: readonly SQSRecord[], deps: RouteDeps, deadline: number): Promise<RouteResult> {
  const result: RouteResult = { failedRecordIds: [], synced: 0, invalid: 0, stale: 0 };
  metrics.addMetric(MetricName.EventsReceived, MetricUnit.Count, records.length);
  const failed = new Map<Item, { error: ReturnType<typeof classify>; attempts: number }>();
  // `mapped`: the event may have written its keys, so its replay keeps the moment it first reached us.
  const park = async (
    record: SQSRecord,
    body: string,
    event: DomainEvent | undefined,
    error: FailureRecord,
    attempts: number,
    mapped = false,
  ) => {
    if (!(await parkEvent(deps, record, body, event, error, attempts, mapped))) result.failedRecordIds.push(record.messageId);
  };
  const reject = async (record: SQSRecord, body: string, event: DomainEvent | undefined, error: FailureRecord, mapped = false) => {
    result.invalid++;
    // Bounded as the envelope is: a schema error can list tens of thousands of issues.
    const logged = boundFailure(error);
    logger.warn('event rejected', { correlation_id: event?.id ?? record.messageId, code: logged.code, error: logged.message });
    metrics.addMetric(MetricName.EventsInvalid, MetricUnit.Count, 1);
    await park(record, body, event, error, 1, mapped);
  };

  const items: Item[] = [];
  // Deadlines and settles apply sent through this queue (delayed): forwarded as they are, after the syncs.
  const deadlines: { record: SQSRecord; message: SyncMessage; messageId: string }[] = [];
  for (const record of records) {
    for (const one of unwrapOwnEnvelope(record.body, 'route', record.messageId)) {
      const deadline = parseForwarded(one.body);
      if (deadline) {
        deadlines.push({ record, message: deadline, messageId: one.messageId });
        continue;
      }
      const parsed = parseEventBody(one.body, {
        messageId: one.messageId,
        sentTimestamp: record.attributes?.SentTimestamp,
        parkedAt: one.parkedAt,
      });
      if (!parsed.ok) await reject(record, one.body, undefined, invalidInput(parsed));
      else items.push({ record, body: one.body, event: parsed.event });
    }
  }

  // One index read (or Nango lookup) per subject and invocation: a batch often holds many events of one customer.
  const lookups = new Map<string, Promise<Target[]>>();
  const connectionsOf = (subject: Subject): Promise<Target[]> => {
    let found = lookups.get(subject.id);
    if (!found) {
      found = deps.index.connectionsOf(subject, deadline).then(({ targets, fromNango }) => {
        if (fromNango) metrics.addMetric(MetricName.ConnectionLookups, MetricUnit.Count, 1);
        return targets;
      });
      // A failed lookup is not kept: the event's retry asks again.
      found.catch(() => lookups.delete(subject.id));
      lookups.set(subject.id, found);
    }
    return found;
  };
  const syncs = new Map<string, PendingSync>();
  const now = Date.now();
  let lastWriteAt = 0;
  const mappedItems: { item: Item; mapped: MappedOk }[] = [];
  const invalid: Promise<void>[] = [];
  for (const item of items) {
    const mapped = mapEvent(item.event, deps.catalog, { ...deps.limits, now });
    if (mapped.ok) mappedItems.push({ item, mapped });
    else invalid.push(reject(item.record, item.body, item.event, invalidInput(mapped)));
  }
  await Promise.all(invalid);
  const { winners, superseded } = foldBatch(mappedItems);
  const rejected = new Set<Item>();
  await mapConcurrent(winners, deps.concurrency ?? ROUTE_CONCURRENCY, async ({ item, mapped }) => {
    const fold = superseded.get(item) ?? [];
    const correlation_id = item.event.id;
    try {
      // Write, then look up, each retried on its own: a lookup's retry must not write every key again.
      const { value: outcome } = await withRetries(() => deps.state.writeDesired(mapped.subject.id, mapped.writes), {
        ...defaultRetry,
        deadline,
      });
      lastWriteAt = Math.max(lastWriteAt, outcome.at);
      // The folded events' keys count as stale once the write that stands for them is stored: a failed
      // write hands them back, and their retry counts them then.
      if (fold.length) {
        const keys = fold.length * mapped.writes.length;
        result.stale += keys;
        metrics.addMetric(MetricName.KeysStale, MetricUnit.Count, keys);
      }
      if (outcome.stale.length) {
        result.stale += outcome.stale.length;
        metrics.addMetric(MetricName.KeysStale, MetricUnit.Count, outcome.stale.length);
        logger.info('stale keys dropped: a newer version is stored', {
          correlation_id,
          keys: outcome.stale.slice(0, 100),
          keyCount: outcome.stale.length,
        });
      }
      const written = mapped.writes.filter((w) => outcome.written.includes(w.key));
      if (written.length === 0) return;
      metrics.addMetric(MetricName.KeysWritten, MetricUnit.Count, written.length);
      const { value: found } = await withRetries(() => connectionsOf(mapped.subject), { ...defaultRetry, deadline });
      if (found.length === 0) {
        metrics.addMetric(MetricName.SubjectsWithoutConnections, MetricUnit.Count, 1);
        logger.info('no connection yet: the state waits for one', { correlation_id, subject: subjectForLog(mapped.subject.id) });
        await deps.unmatched?.note(mapped.subject.id, Date.now());
      }
      // Every written key's order: two writes may share their highest order (one event id, two bodies).
      const orders = written
        .map((w) => `${w.key}\u0000${w.order}`)
        .sort()
        .join('\n');
      const cause = `change\n${mapped.subject.id}\n${orders}`;
      for (const target of found.filter((t) => written.some((w) => inScope(w.integrations, t.providerConfigKey)))) {
        const key = connectionKey(target);
        let s = syncs.get(key);
        if (!s) syncs.set(key, (s = { target, causes: new Map(), events: [], items: new Set() }));
        s.causes.set(mapped.subject.id, [...(s.causes.get(mapped.subject.id) ?? []), cause]);
        s.events.push(mapped.ref);
        s.items.add(item);
        // The events this write stands for share its fate: a failed send hands them back with it.
        for (const f of fold) s.items.add(f.item);
      }
    } catch (e) {
      const error = classify(e);
      if (!error.retryable) {
        rejected.add(item);
        return reject(item.record, item.body, item.event, error.toRecord(), true);
      }
      logger.warn('event failed; it will be retried', { correlation_id, code: error.code, error: error.message });
      failed.set(item, { error, attempts: attemptsOf(e) });
    }
  });

  // An event folded into one that failed is handed back with it (its retry writes it, alone if the
  // newer one is parked meanwhile); one folded into a refused event is handed back too, and then
  // meets the refusal on its own.
  for (const [winner, fold] of superseded) {
    const outcome = failed.get(winner);
    const error = outcome?.error ?? (rejected.has(winner) ? supersededRefused : undefined);
    if (error) for (const f of fold) failed.set(f.item, { error, attempts: outcome?.attempts ?? 1 });
  }
  // Items that already failed send nothing now: their retry sends their syncs.
  const pending = [...syncs.values()].filter((s) => ![...s.items].some((i) => failed.has(i)));
  // Never before a write of this batch, even if the clock stepped back: apply must see those keys as this sync's own.
  const queuedAt = Math.max(Date.now(), lastWriteAt);
  // A sync names at most MAX_SUBJECTS_PER_SYNC subjects: a connection in more of them gets several.
  const messages = pending.flatMap((s, i) =>
    subjectChunks([...s.causes.keys()]).map((subjects, j) => ({
      id: `${i}_${j}`,
      body: JSON.stringify(syncMessage(s.target, subjects, 'change', s.events, queuedAt, behindOf(s.items, queuedAt))),
      groupId: connectionKey(s.target),
      deduplicationId: syncDeduplicationId(
        s.target,
        subjects
          .flatMap((subject) => s.causes.get(subject) ?? [])
          .sort()
          .join('\n'),
      ),
    })),
  );
  for (const [i, d] of deadlines.entries()) {
    messages.push({
      id: `d${i}`,
      body: JSON.stringify(d.message),
      groupId: connectionKey(d.message.target),
      // Its ingress message id: a redelivered deadline is forwarded once.
      deduplicationId: syncDeduplicationId(d.message.target, `deadline\n${d.messageId}`),
    });
  }
  const sendFailures = messages.length ? await deps.queues.sendBatch(deps.syncQueueUrl, messages) : [];
  for (const f of sendFailures) {
    if (f.id.startsWith('d')) {
      // Handed back as it is: SQS redelivers it after the visibility timeout.
      const d = deadlines[Number(f.id.slice(1))];
      if (d) result.failedRecordIds.push(d.record.messageId);
      continue;
    }
    const s = pending[Number(f.id.split('_')[0])];
    if (!s) continue;
    // SQS refused the entry: the record's retry sends its syncs again.
    const error = new Failure({ source: 'aws', kind: 'unavailable', code: f.code, message: `${f.code}: sync send failed: ${f.message}` });
    for (const item of s.items) if (!failed.has(item)) failed.set(item, { error, attempts: 1 });
  }
  result.synced = messages.length - deadlines.length - sendFailures.filter((f) => !f.id.startsWith('d')).length;
  metrics.addMetric(MetricName.SyncsEnqueued, MetricUnit.Count, result.synced);

  for (const [item, { error, attempts }] of failed) {
    const { park: toPark, handBack, visibilitySeconds } = settle([item], error, (i) => i.record, deps.maxReceiveCount);
    for (const p of toPark) {
      logger.warn('transient failure on the last allowed attempt; parked in the DLQ', { correlation_id: p.event.id, code: error.code });
      await park(p.record, p.body, p.event, error.toRecord(), Math.max(attempts, 1), true);
    }
    for (const h of handBack) {
      result.failedRecordIds.push(h.record.messageId);
      if (visibilitySeconds !== undefined && deps.ingressQueueUrl && h.record.receiptHandle) {
        await deps.queues.changeVisibility(deps.ingressQueueUrl, h.record.receiptHandle, visibilitySeconds).catch((e: Error) => {
          logger.warn('could not set the visibility Retry-After asked for; the queue default applies', { error: e.message });
        });
      }
    }
  }
  result.failedRecordIds = [...new Set(result.failedRecordIds)];
  return result;
}

type MappedOk = Extract<Mapped, { ok: true }>;

/** Events processed at once within one invocation. */
const ROUTE_CONCURRENCY = 8;

const supersededRefused = new Failure({
  source: 'aws',
  kind: 'unavailable',
  code: 'folded_event_refused',
  message: 'a newer event of the same keys in this batch was refused; this one is routed again on its own',
});

/**
 * Folds events of one batch that write the same keys of one subject (one event type, one scope): only
 * the newest order is written, one conditional put instead of one per event, and it stores what the
 * events written one after another would have left (the newest order per key wins; an older one is
 * superseded as a stale write is). Returns the events to write and, per written event, those folded
 * into it. Events whose keys have different scopes are not folded.
 */
export function foldBatch<T extends { item: Item; mapped: MappedOk }>(all: readonly T[]): { winners: T[]; superseded: Map<Item, T[]> } {
  const byKey = new Map<string, { winner: T; order: string; folded: T[] }>();
  const winners: T[] = [];
  for (const m of all) {
    const writes = m.mapped.writes;
    const scope = JSON.stringify(writes[0]?.integrations);
    if (writes.length === 0 || writes.some((w) => JSON.stringify(w.integrations) !== scope)) {
      winners.push(m);
      continue;
    }
    const e = m.mapped.ref;
    const key = JSON.stringify([m.mapped.subject.id, e.source, e.detailType, scope, writes.map((w) => w.key).sort()]);
    const order = groupOrderOf(writes);
    const held = byKey.get(key);
    if (!held) byKey.set(key, { winner: m, order, folded: [] });
    else if (order > held.order) byKey.set(key, { winner: m, order, folded: [...held.folded, held.winner] });
    else held.folded.push(m);
  }
  const superseded = new Map<Item, T[]>();
  for (const { winner, folded } of byKey.values()) {
    winners.push(winner);
    if (folded.length) superseded.set(winner.item, folded);
  }
  return { winners, superseded };
}

/**
 * How long the oldest record behind a sync waited in the ingress queue (SQS's sent time to now):
 * apply sizes a debounce by it. Undefined when EventBridge invoked route directly.
 */
function behindOf(items: ReadonlySet<Item>, queuedAt: number): number | undefined {
  const sent = [...items].map((i) => Number(i.record.attributes?.SentTimestamp)).filter((t) => Number.isFinite(t) && t > 0);
  return sent.length ? Math.max(0, queuedAt - Math.min(...sent)) : undefined;
}
