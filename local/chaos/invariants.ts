/**
 * The invariant table of a chaos run, computed from what the pipeline left behind (Nango's stored
 * metadata, its request log and write history, both DLQs, the sync messages apply was handed,
 * captured output), never from the handlers' own counters:
 * - every connection (those created mid-run too) holds the oracle's fold, except keys whose sync (or
 *   event) is parked in a DLQ with its error; anything else is LOST;
 * - every key route wrote and queued a sync for is at each connection that sync reached (and that
 *   still holds its subject), whatever became of later records (keys left unsent after drain = 0);
 * - every invalid event is in the ingress DLQ with its error;
 * - a re-tagged connection holds its current subjects' fold, and no key only a customer it left sets
 *   (null, or never sent) once a sweep ran past the last re-tag;
 * - apply reads Nango only to look up a seed's connection (the list endpoint, by id); nothing calls
 *   GET /connections/{id};
 * - a connection is PATCHed at most once per time it became dirty (events in scope, seeds, repairs);
 * - no two writes to one connection at once; the key nowhere; no bookkeeping key anywhere.
 */
import type { CallCounts } from './calls.ts';
import { type DesiredKey, desiredFor } from '../../functions/commons/domain/desired.ts';
import { subjectId } from '../../functions/commons/domain/subject.ts';
import type { EventSourceStats } from '../event-source.ts';
import type { DlqMessage, ObservedSync, SentEvent } from '../pipeline.ts';
import type { NangoStandin } from '../standins/nango.ts';
import type { FaultKind } from './faults.ts';
import { TAG_HEADER } from './calls.ts';
import { connKey, differingKeys, expectedState } from './oracle.ts';
import { type Unawaited, unawaitedWrites, writeOverlaps } from './overlaps.ts';
import type { InvariantReport } from './report.ts';
import type { Workload, WorkloadEvent } from './workload.ts';

export { connKey };
export type { InvariantReport };

/** Version 1 kept its ordering bookkeeping inside the customer's metadata; version 2 never writes it. */
export const LEGACY_VERSIONS_KEY = '_metadataSyncVersions';
const BARE = 'bare (SQS redrive)';

/** A connection moved to another customer through Nango's API during the run (no webhook). */
export interface Retag {
  connectionId: string;
  providerConfigKey: string;
  from: string;
  to: string;
  atMs: number;
}

export interface InvariantInput {
  workload: Workload;
  sent: SentEvent[];
  dlq: DlqMessage[];
  syncs: ObservedSync[];
  /** Subject -> its desired state at the end (every subject a sync named). */
  desired?: Record<string, DesiredKey[]>;
  nango: Pick<NangoStandin, 'connections' | 'requests' | 'applyHistory' | 'webhookDeliveries' | 'stats'>;
  keys: readonly string[];
  leaks: { logHits: number; errors: string[] };
  injected: Record<FaultKind, number>;
  /** Requests to Nango by stage, seen on undici's diagnostics channel. */
  nangoCalls: Record<string, CallCounts>;
  /** Whether nobody waited for a request's answer any more (seen on the client side). */
  unawaited: Unawaited;
  /**
   * Whether the invocation that sent a request died (timed out or crashed), before or after it. Its
   * batch went back to the queue whole, so the syncs it had already PATCHed are delivered again and
   * may PATCH again: on Lambda an invocation stopped between its PATCH and `recordApplied` does the
   * same, which the design accepts (the keys are sent twice, harmlessly). Under load a 15 ms crash
   * timer or a function timeout fires after PATCHes that completed.
   */
  died?: Unawaited;
  /**
   * Whether a request was sent after its invocation died. Here a dead invocation runs on (Lambda
   * would have stopped it): a PATCH it sends with a membership read before a re-tag can land after
   * the clearing seed. Such a write is no product outcome, so a former customer's key it left is
   * counted apart, not as a tenancy failure.
   */
  sentDead?: Unawaited;
  route: EventSourceStats;
  apply: EventSourceStats;
  /** Re-tags made during the run; the fold then follows each connection's tags at the end. */
  retags?: Retag[];
  /** When a sweep run started after the last re-tag (ms into the run): the tenancy window had passed. */
  sweptPastRetagsAtMs?: number;
  extra?: Record<string, string | number>;
}

function count(haystack: string, needles: readonly string[]): number {
  let n = 0;
  for (const k of needles) for (let at = haystack.indexOf(k); at >= 0; at = haystack.indexOf(k, at + 1)) n++;
  return n;
}

export function computeInvariants(i: InvariantInput): InvariantReport {
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 12) problems.push(p);
  };
  const byId = new Map(i.workload.events.map((e) => [e.id, e]));
  const byBody = new Map(i.workload.events.map((e) => [e.body, e]));
  const byMessageId = new Map<string, WorkloadEvent>();
  for (const s of i.sent) {
    const e = byBody.get(s.body);
    if (e) byMessageId.set(s.messageId, e);
  }

  // The DLQs: what route parked (by event) and what apply parked (by connection, with the keys it tried).
  const routeDlq = new Map<string, { code: string; retryable: boolean | undefined }>();
  const parkedKeys = new Map<string, Set<string> | 'all'>();
  const dlqByCode: Record<string, number> = {};
  let bare = 0;
  for (const m of i.dlq) {
    const code = m.envelope?.error.code ?? BARE;
    dlqByCode[`${m.queue}: ${code}`] = (dlqByCode[`${m.queue}: ${code}`] ?? 0) + 1;
    if (!m.envelope) bare++;
    if (m.queue === 'ingress-dlq') {
      const id = m.envelope?.events[0]?.id;
      const e = (id && byId.get(id)) || byMessageId.get(m.envelope?.originals[0]?.messageId ?? m.messageId) || byBody.get(m.body);
      if (e) routeDlq.set(e.id, { code, retryable: m.envelope?.error.retryable });
      else note(`ingress DLQ message ${m.messageId} matches no sent event`);
      continue;
    }
    const target = m.envelope?.target ?? syncTarget(m.body);
    if (!target) {
      note(`sync DLQ message ${m.messageId} names no connection (${code})`);
      continue;
    }
    const k = connKey(target);
    const keys = m.envelope?.keys;
    const prev = parkedKeys.get(k);
    if (!keys || prev === 'all') parkedKeys.set(k, 'all');
    else parkedKeys.set(k, new Set([...(prev ?? []), ...keys]));
  }

  let lost = 0;
  let unexpected = 0;
  for (const e of i.workload.events) {
    const parked = routeDlq.get(e.id);
    if (e.expect.kind === 'invalid') {
      if (!parked || parked.code === BARE) {
        lost++;
        note(`invalid event ${e.id} (${e.expect.reason}) is not in the ingress DLQ with its error`);
      }
    } else if (parked && parked.retryable !== true) {
      unexpected++;
      note(`valid event ${e.id} was parked by route with ${parked.code}`);
    }
  }

  // Every connection against the fold.
  const final = new Map(i.nango.connections().map((c) => [connKey(c), c]));
  // A re-tagged connection's fold is its current subjects'; its former customer's keys are checked apart.
  const retagged = new Map<string, Retag[]>();
  for (const r of i.retags ?? []) retagged.set(connKey(r), [...(retagged.get(connKey(r)) ?? []), r]);
  const world = i.workload.connections.map((c) => {
    const now = retagged.has(connKey(c)) ? final.get(connKey(c)) : undefined;
    return now ? { ...c, tags: { ...now.tags } } : c;
  });
  const expected = expectedState(world, i.workload.events);
  const former = expectedState(
    i.workload.connections.filter((c) => retagged.has(connKey(c))),
    i.workload.events.filter((e) => e.expect.kind === 'valid' && e.expect.subject.startsWith('tags:')),
  );
  let foreignKeys = 0;
  let foreignByDead = 0;
  const requestByN = new Map(i.nango.requests.map((r) => [r.n, r]));
  let foreignCleared = 0;
  let retaggedBehind = 0;
  let mismatchedConnections = 0;
  let parkedMismatches = 0;
  let lostKeys = 0;
  let pairs = 0;
  let patchesApplied = 0;
  let dirtyBound = 0;
  let overPatched = 0;
  // A connection becomes dirty when a desired-state change (a change sync) or a seed or repair reaches it:
  // at most one PATCH each, not counting writes the client gave up on (it cannot know they landed).
  const syncsOf = new Map<string, number>();
  for (const s of i.syncs) if (s.message) syncsOf.set(connKey(s.message.target), (syncsOf.get(connKey(s.message.target)) ?? 0) + 1);
  const gaveUp = unawaitedWrites(i.nango.requests, i.unawaited);
  // PATCHes of invocations that died: their syncs came back, and the redelivery's PATCH is the one counted.
  const died = new Set(i.died ? i.nango.requests.filter((r) => i.died!(r)).map((r) => r.n) : []);
  let patchesAbandoned = 0;
  let patchesRedone = 0;
  for (const [k, x] of expected) {
    pairs += x.events.size;
    const c = final.get(k);
    if (!c) {
      lost++;
      note(`connection ${x.connection.providerConfigKey}/${x.connection.connectionId} never appeared at Nango`);
      continue;
    }
    const excused = parkedKeys.get(k);
    let diff = differingKeys(x.want, c.metadata);
    const moves = retagged.get(k);
    if (moves) {
      // Keys only a former customer sets: null (cleared) or never sent (the seed's value, no write ever set it).
      const currentSubjects = new Set([`tags:${c.tags?.organization_id ?? ''}`]);
      const formerOnly = [...(former.get(k)?.winners.keys() ?? [])].filter((key) => !x.winners.has(key));
      const history = i.nango.applyHistory(c.connectionId, c.providerConfigKey);
      for (const key of formerOnly) {
        const got = c.metadata?.[key];
        const seed = x.connection.metadata?.[key];
        const everSent = history.some((h) => h.patch[key] !== undefined && h.patch[key] !== null);
        if (got === undefined || got === null) {
          if (everSent) foreignCleared++;
        } else if (everSent || JSON.stringify(got) !== JSON.stringify(seed)) {
          const last = history.findLast((h) => h.patch[key] !== undefined);
          const lastRequest = last ? requestByN.get(last.n) : undefined;
          if (excused === 'all' || excused?.has(key)) parkedMismatches++;
          else if (lastRequest && i.sentDead?.(lastRequest)) foreignByDead++;
          else {
            foreignKeys++;
            note(
              `connection ${c.providerConfigKey}/${c.connectionId} re-tagged ${moves.map((m) => `${m.from} -> ${m.to}`).join(', ')} (now ${[...currentSubjects].join(', ')}) still holds ${key}=${JSON.stringify(got)} that only its former customer sets`,
            );
          }
        }
      }
      diff = diff.filter((key) => !formerOnly.includes(key));
      retaggedBehind += diff.filter((key) => !(excused === 'all' || excused?.has(key))).length;
    }
    let bad = 0;
    for (const key of diff) {
      const inSyncDlq = excused === 'all' || excused?.has(key);
      const inRouteDlq = [...(x.carriers.get(key) ?? [])].some((id) => routeDlq.get(id)?.retryable === true);
      if (inSyncDlq || inRouteDlq) parkedMismatches++;
      else bad++;
    }
    if (diff.length) mismatchedConnections++;
    if (bad) {
      lostKeys += bad;
      note(
        `connection ${c.providerConfigKey}/${c.connectionId} (${x.connection.appears.at}): ${bad} key(s) differ from the fold and no DLQ says why: got ${JSON.stringify(c.metadata).slice(0, 300)}, want ${JSON.stringify(x.want).slice(0, 300)}`,
      );
    }
    const history = i.nango.applyHistory(c.connectionId, c.providerConfigKey);
    const applied = history.filter((h) => !gaveUp.has(h.n) && !died.has(h.n)).length;
    patchesRedone += history.filter((h) => !gaveUp.has(h.n) && died.has(h.n)).length;
    const bound = syncsOf.get(k) ?? 0;
    patchesApplied += history.length;
    patchesAbandoned += history.filter((h) => gaveUp.has(h.n)).length;
    dirtyBound += bound;
    if (applied > bound) {
      overPatched++;
      note(
        `connection ${c.providerConfigKey}/${c.connectionId}: ${applied} PATCHes for ${bound} syncs (changes, seeds, repairs) that reached it`,
      );
    }
  }
  lost += lostKeys;

  // Keys left unsent: a key route wrote, whose change sync (queued at or after the write) reached a
  // connection, must be at that connection with the desired value unless a sync DLQ message names it,
  // whatever became of later records (parked, purged). The fold above excuses keys of parked events;
  // this does not.
  let keysLeftUnsent = 0;
  const subjectsOf = new Map<string, { target: { connectionId: string; providerConfigKey: string }; queued: Map<string, number> }>();
  for (const s of i.syncs) {
    const m = s.message;
    if (!m || m.reason !== 'change' || m.queuedAt === undefined) continue;
    const k = connKey(m.target);
    const entry = subjectsOf.get(k) ?? { target: m.target, queued: new Map<string, number>() };
    for (const subject of m.subjects) entry.queued.set(subject, Math.max(entry.queued.get(subject) ?? 0, m.queuedAt));
    subjectsOf.set(k, entry);
  }
  for (const [k, { target, queued }] of subjectsOf) {
    const c = final.get(k);
    const excused = parkedKeys.get(k);
    if (!c || excused === 'all') continue;
    // A re-tagged connection is owed only its current subjects' keys: those of a customer it left are
    // cleared (checked above as keys outside its current subjects).
    const orgSubject = (org: string) => subjectId({ by: 'tags', tags: { organization_id: org }, integrations: 'all' });
    const left = new Set((retagged.get(k) ?? []).map((m) => orgSubject(m.from)));
    left.delete(orgSubject(c.tags?.organization_id ?? ''));
    const wanted = desiredFor(
      [...queued.keys()].filter((s) => !left.has(s)).flatMap((s) => i.desired?.[s] ?? []),
      target.providerConfigKey,
    );
    for (const d of wanted.values()) {
      // Only keys a sync was queued for (at or after their write) are owed to this connection.
      if ((queued.get(d.subject) ?? 0) < d.writtenAt || excused?.has(d.key)) continue;
      if (JSON.stringify(c.metadata?.[d.key]) === JSON.stringify(d.value)) continue;
      keysLeftUnsent++;
      note(
        `connection ${target.providerConfigKey}/${target.connectionId}: key ${d.key} of ${d.subject} was routed and synced but is not at Nango`,
      );
    }
  }

  // Reads: only route's list lookups; never GET /connections/{id} (it returns, and may refresh, credentials).
  const getById = i.nango.requests.filter((r) => r.method === 'GET' && r.path !== '/connections').length;
  // Apply reads Nango only to look up a connection (one list call by its id): for a sync that asked
  // for that lookup, or for a re-tagged one (a sync naming a subject its membership did not hold yet).
  // Never anything else. Stricter than counting list calls by id alone.
  const lookups = new Set([
    ...i.syncs.filter((s) => s.message?.lookup === true).map((s) => connKey(s.message!.target)),
    ...retagged.keys(),
  ]);
  const applyReads = i.nango.requests.filter((r) => r.method === 'GET' && (r.headers[TAG_HEADER] ?? '').startsWith('apply/'));
  const applyReadsBeyondLookups = applyReads.filter(
    (r) =>
      r.path !== '/connections' ||
      r.query.connectionId === undefined ||
      !lookups.has(connKey({ connectionId: r.query.connectionId, providerConfigKey: r.query.integrationId ?? '' })),
  ).length;
  if (getById) note(`${getById} GET request(s) other than the list endpoint`);
  if (applyReadsBeyondLookups)
    note(`apply sent ${applyReadsBeyondLookups} GET request(s) to Nango that look up no seed's or re-tagged connection`);

  const keys = i.keys.filter(Boolean);
  let keyLeaks = i.leaks.logHits;
  let legacyKey = 0;
  for (const m of i.dlq) keyLeaks += count(m.body, keys) + count(JSON.stringify(m.attributes), keys);
  for (const err of i.leaks.errors) keyLeaks += count(err, keys);
  for (const s of i.syncs) keyLeaks += count(s.body, keys);
  for (const d of i.nango.webhookDeliveries()) keyLeaks += count(d.raw, keys);
  for (const r of i.nango.requests) {
    const text = `${JSON.stringify({ ...r.headers, authorization: undefined })}${typeof r.body === 'string' ? r.body : JSON.stringify(r.body ?? '')}`;
    keyLeaks += count(text, keys);
    legacyKey += count(text, [LEGACY_VERSIONS_KEY]);
  }
  for (const c of final.values()) legacyKey += count(JSON.stringify(c.metadata ?? {}), [LEGACY_VERSIONS_KEY]);
  for (const m of i.dlq) legacyKey += count(m.body, [LEGACY_VERSIONS_KEY]);
  if (legacyKey) note(`${LEGACY_VERSIONS_KEY} found ${legacyKey} time(s)`);

  const stats = i.nango.stats();
  const ov = writeOverlaps(i.nango.requests, i.unawaited);
  const faulted = i.nango.requests.filter((r) => r.fault !== undefined).length;
  const reasons: Record<string, number> = {};
  for (const s of i.syncs) if (s.message) reasons[s.message.reason] = (reasons[s.message.reason] ?? 0) + 1;
  const distinct = new Set(i.workload.events.map((e) => e.id));
  const deliveries = i.nango.webhookDeliveries();
  return {
    eventsSent: distinct.size,
    copiesSent: i.sent.length,
    duplicatesSent: i.sent.length - distinct.size,
    lateEvents: i.workload.wave2.length,
    sameSecondPairs: i.workload.events.filter((e) => e.pair).length / 2,
    invalidEvents: i.workload.events.filter((e) => e.expect.kind === 'invalid').length,
    connections: i.workload.connections.length,
    connectionsCreatedMidRun: i.workload.connections.filter((c) => c.appears.at === 'share').length,
    connectionsCreatedAfterTheirEvents: i.workload.connections.filter((c) => c.appears.at === 'end').length,
    customers: i.workload.customers.length,
    pairs,
    webhooks: { sent: deliveries.length, delivered: deliveries.filter((d) => d.delivered).length },
    syncsByReason: reasons,
    syncDeliveries: i.syncs.reduce((n, s) => n + s.deliveries, 0),
    patchesApplied,
    patchesAbandoned,
    patchesRedone,
    dirtyBound,
    overPatched,
    mismatchedConnections,
    parkedMismatches,
    eventsInRouteDlq: routeDlq.size,
    bareDlqMessages: bare,
    dlqByCode,
    lost,
    keysLeftUnsent,
    unexpected,
    overlaps: ov.live,
    standinOverlaps: stats.overlaps,
    overlapsBesideAbandoned: ov.besideAbandoned,
    keyLeaks,
    legacyVersionKey: legacyKey,
    getById,
    applyReads: applyReads.length,
    applyReadsBeyondLookups,
    retags: (i.retags ?? []).length,
    sweptPastRetags: i.sweptPastRetagsAtMs !== undefined || !(i.retags ?? []).length,
    foreignKeys,
    foreignByDead,
    foreignCleared,
    retaggedBehind,
    nangoCalls: i.nangoCalls,
    requests: stats.requests,
    faulted,
    faultRate: stats.requests ? faulted / stats.requests : 0,
    faultsByKind: { ...i.injected },
    unauthorized401: stats.byStatus[401] ?? 0,
    handlerErrors: i.route.errors + i.apply.errors + i.route.invalidResponses + i.apply.invalidResponses,
    handlerTimeouts: i.route.timeouts + i.apply.timeouts,
    crashes: i.route.crashes + i.apply.crashes,
    problems,
    extra: i.extra ?? {},
  };
}

function syncTarget(body: string): { connectionId: string; providerConfigKey: string } | undefined {
  try {
    const t = (JSON.parse(body) as { target?: { connectionId?: unknown; providerConfigKey?: unknown } }).target;
    return typeof t?.connectionId === 'string' && typeof t.providerConfigKey === 'string'
      ? { connectionId: t.connectionId, providerConfigKey: t.providerConfigKey }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Every headline invariant. */
export function invariantsHold(r: InvariantReport): boolean {
  return (
    r.lost === 0 &&
    r.keysLeftUnsent === 0 &&
    r.unexpected === 0 &&
    r.overPatched === 0 &&
    r.overlaps === 0 &&
    r.keyLeaks === 0 &&
    r.legacyVersionKey === 0 &&
    r.getById === 0 &&
    r.applyReadsBeyondLookups === 0 &&
    r.foreignKeys === 0 &&
    r.sweptPastRetags
  );
}
