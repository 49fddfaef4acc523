/**
 * Ordering properties.
 * 1. planGuardedPatch: however a connection's events are split into batches and whatever order the
 *    batches arrive in, PATCHing each plan over the stored metadata leaves the fold of all events in
 *    event-time order (ties: the later arrival wins), and the versions map holds each key's newest time.
 * 2. Within a message group, through the real apply processor (fake Nango and SQS ports, a FIFO
 *    model that redelivers what was reported failed): the records reported failed are always a suffix
 *    of the group's records in the batch, no two writes to one connection overlap, and once drained the
 *    metadata equals the fold of every event that did not end in the DLQ.
 */
import fc from 'fast-check';
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { applyRecords, groupRecords, type ApplyDeps } from '#commons/apply/processor';
import { planGuardedPatch, readVersions, VERSIONS_KEY } from '#commons/apply/ordering';
import { parseEnvelope } from '#commons/dlq-envelope';
import { NangoError } from '#commons/nango/errors';
import type { NangoPort } from '#commons/nango/port';
import { connectionKey, type PatchMessage, type Target } from '#commons/patch-message';
import type { OutgoingMessage, QueuePort } from '#commons/queues';
import type { MetadataPatch } from '#events/define';
import { canonical, jsonArb, shallowMerge, timeArb } from './arbitraries.ts';
import { silenceHandlerOutput } from '../../local/chaos/capture.ts';

const smallPatch: fc.Arbitrary<MetadataPatch> = fc.dictionary(fc.constantFrom('plan', 'seats', 'status', 'region'), jsonArb, {
  minKeys: 1,
  maxKeys: 3,
  noNullPrototype: true,
});

interface Ev {
  id: string;
  time: string;
  patch: MetadataPatch;
}

const eventsArb = (max: number) =>
  fc
    .array(fc.tuple(timeArb, smallPatch), { minLength: 1, maxLength: max })
    .map((xs) => xs.map(([time, patch], i): Ev => ({ id: `e${i}`, time, patch })));

/** The reference: the fold of the events in event-time order, ties in the given (arrival) order. */
function eventTimeFold(
  events: readonly Ev[],
  start: Record<string, unknown> | null = null,
): { metadata: Record<string, unknown>; versions: Record<string, string> } {
  const sorted = events.map((e, i) => ({ e, i })).sort((a, b) => (a.e.time < b.e.time ? -1 : a.e.time > b.e.time ? 1 : a.i - b.i));
  let metadata: Record<string, unknown> = { ...(start ?? {}) };
  const versions: Record<string, string> = {};
  for (const { e } of sorted) {
    metadata = shallowMerge(metadata, e.patch);
    for (const k of Object.keys(e.patch)) versions[k] = e.time;
  }
  return { metadata, versions };
}

const withoutVersions = (m: Record<string, unknown> | null) => {
  const { [VERSIONS_KEY]: _v, ...rest } = m ?? {};
  return rest;
};

const TARGET: Target = { connectionId: 'acme', providerConfigKey: 'salesforce' };
const message = (e: Ev, target: Target = TARGET): PatchMessage => ({
  v: 1,
  target,
  patch: e.patch,
  event: { id: e.id, source: 'app.billing', detailType: 'customer.plan_changed', time: e.time },
});

describe('planGuardedPatch equals the event-time fold', () => {
  it('for any split into batches and any arrival order', () => {
    fc.assert(
      fc.property(
        eventsArb(12).chain((events) =>
          fc.tuple(
            fc.constant(events),
            fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
            fc.array(fc.nat(4), { minLength: events.length, maxLength: events.length }),
          ),
        ),
        ([, arrival, cuts]) => {
          // Cut the arrival sequence into consecutive batches.
          const batches: Ev[][] = [[]];
          arrival.forEach((e, i) => {
            if (i > 0 && cuts[i] === 0) batches.push([]);
            batches[batches.length - 1]!.push(e);
          });
          let stored: Record<string, unknown> | null = null;
          for (const b of batches) {
            const plan = planGuardedPatch(
              b.map((e) => message(e)),
              readVersions(stored),
            );
            if (plan.patch) stored = shallowMerge(stored, plan.patch);
          }
          const want = eventTimeFold(arrival);
          expect(canonical(withoutVersions(stored))).toBe(canonical(want.metadata));
          expect(canonical(readVersions(stored))).toBe(canonical(want.versions));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never sends an older value over a newer one for any key', () => {
    fc.assert(
      fc.property(eventsArb(6), eventsArb(6), (older, newer) => {
        const stored = shallowMerge(
          null,
          planGuardedPatch(
            newer.map((e) => message(e)),
            {},
          ).patch ?? {},
        );
        const plan = planGuardedPatch(
          older.map((e) => message(e)),
          readVersions(stored),
        );
        const versions = readVersions(stored);
        for (const k of Object.keys(plan.patch ?? {})) {
          if (k === VERSIONS_KEY) continue;
          const written = (plan.patch![VERSIONS_KEY] as Record<string, string>)[k]!;
          if (versions[k] !== undefined) expect(written >= versions[k]!).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** Nango as a port: shallow merge, a scripted outcome per call, and an overlap counter per connection. */
function fakeNango(outcomes: readonly ('ok' | 'transient' | 'permanent')[]) {
  const store = new Map<string, Record<string, unknown> | null>();
  const inFlight = new Map<string, number>();
  let overlaps = 0;
  let calls = 0;
  const key = (t: Target) => connectionKey(t);
  const next = () => outcomes[calls++] ?? 'ok';
  const tick = () => new Promise<void>((r) => setImmediate(r));
  const guard = async <T>(t: Target, write: boolean, fn: () => T): Promise<T> => {
    const k = key(t);
    if (write) {
      if ((inFlight.get(k) ?? 0) > 0) overlaps++;
      inFlight.set(k, (inFlight.get(k) ?? 0) + 1);
    }
    try {
      await tick();
      const o = next();
      if (o === 'transient') throw new NangoError('transient', 'server_error', 'injected 503', 503);
      if (o === 'permanent') throw new NangoError('permanent', 'unknown_connection', 'injected 404', 404);
      return fn();
    } finally {
      if (write) inFlight.set(k, (inFlight.get(k) ?? 1) - 1);
    }
  };
  const port: NangoPort = {
    getMetadata: (t) => guard(t, false, () => structuredClone(store.get(key(t)) ?? null)),
    patchMetadata: (t, patch) =>
      guard(t, true, () => void store.set(key(t), shallowMerge(store.get(key(t)) ?? null, structuredClone(patch)))),
    listIntegrations: async () => [],
  };
  return { port, store, overlaps: () => overlaps };
}

interface Queued {
  messageId: string;
  body: string;
  group: string;
  seq: number;
  receives: number;
}

const sink = () => {
  const sent: OutgoingMessage[] = [];
  const q: QueuePort = {
    sendBatch: async () => [],
    send: async (_url, m) => void sent.push({ id: String(sent.length), ...m }),
    changeVisibility: async () => {},
  };
  return { q, sent };
};

describe('ordering within a message group (apply processor over a FIFO model)', () => {
  for (const ordering of ['event-time', 'arrival'] as const) {
    it(`failed records are a suffix of their group, writes never overlap, the drained state is the fold (${ordering})`, async () => {
      const restore = silenceHandlerOutput();
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.tuple(fc.nat(3), timeArb, smallPatch), { minLength: 1, maxLength: 30 }),
            fc.array(fc.constantFrom('ok', 'ok', 'transient', 'permanent'), { maxLength: 40 }),
            fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 20 }),
            async (spec, outcomes, batchSizes) => {
              const targets: Target[] = [0, 1, 2, 3].map((i) => ({ connectionId: `c${i}`, providerConfigKey: 'salesforce' }));
              const queue: Queued[] = [];
              const events = new Map<string, { ev: Ev; target: Target; seq: number }>();
              spec.forEach(([t, time, patch], i) => {
                const ev: Ev = { id: `e${i}`, time, patch };
                const target = targets[t]!;
                events.set(ev.id, { ev, target, seq: i });
                queue.push({
                  messageId: `m${i}`,
                  body: JSON.stringify(message(ev, target)),
                  group: connectionKey(target),
                  seq: i,
                  receives: 0,
                });
              });
              const nango = fakeNango(outcomes);
              const dlq = sink();
              const maxReceiveCount = 3;
              const deps: ApplyDeps = {
                nango: nango.port,
                queues: dlq.q,
                patchesQueueUrl: 'q',
                patchesDlqUrl: 'dlq',
                maxReceiveCount,
                groupConcurrency: 3,
                ordering,
                retry: { maxAttempts: 2, baseMs: 0, capMs: 0, minAttemptMs: 0 } as unknown as ApplyDeps['retry'],
              };
              let round = 0;
              while (queue.length > 0) {
                // An AWS FIFO receive: per group (in queue order), its front messages in order, up to the batch size.
                const size = batchSizes[round++ % batchSizes.length]!;
                const taken: Queued[] = [];
                for (const group of [...new Set(queue.map((m) => m.group))]) {
                  for (const m of queue) if (m.group === group && taken.length < size) taken.push(m);
                }
                for (const m of taken) m.receives++;
                const records = taken.map(
                  (m): SQSRecord => ({
                    messageId: m.messageId,
                    receiptHandle: `${m.messageId}-${m.receives}`,
                    body: m.body,
                    attributes: {
                      ApproximateReceiveCount: String(m.receives),
                      SentTimestamp: '1',
                      SenderId: 'x',
                      ApproximateFirstReceiveTimestamp: '1',
                      MessageGroupId: m.group,
                    },
                    messageAttributes: {},
                    md5OfBody: '',
                    eventSource: 'aws:sqs',
                    eventSourceARN: 'arn',
                    awsRegion: 'us-east-1',
                  }),
                );
                const r = await applyRecords(records, deps, Date.now() + 60_000);
                const failed = new Set(r.failedRecordIds);
                for (const group of groupRecords(records)) {
                  const flags = group.map((x) => failed.has(x.messageId));
                  const first = flags.indexOf(true);
                  // Once one record of a group failed, every later one did too: FIFO order holds.
                  if (first >= 0) expect(flags.slice(first).every(Boolean)).toBe(true);
                }
                for (const m of taken) if (!failed.has(m.messageId)) queue.splice(queue.indexOf(m), 1);
                // A message past its receive limit would be redriven bare by SQS; apply must have parked it first.
                for (const m of queue) expect(m.receives).toBeLessThan(maxReceiveCount);
              }
              expect(nango.overlaps()).toBe(0);
              const parked = new Set(dlq.sent.flatMap((s) => parseEnvelope(s.body)?.events.map((e) => e.id) ?? []));
              for (const target of targets) {
                const applied = [...events.values()]
                  .filter((e) => e.target === target && !parked.has(e.ev.id))
                  .sort((a, b) => a.seq - b.seq)
                  .map((e) => e.ev);
                const want =
                  ordering === 'event-time'
                    ? eventTimeFold(applied).metadata
                    : applied.reduce<Record<string, unknown>>((s, e) => shallowMerge(s, e.patch), {});
                expect(canonical(withoutVersions(nango.store.get(connectionKey(target)) ?? null))).toBe(canonical(want));
              }
            },
          ),
          { numRuns: 150 },
        );
      } finally {
        restore();
      }
    });
  }
});
