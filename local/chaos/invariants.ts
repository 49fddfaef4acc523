/**
 * The invariant table: every event (and every event x target connection) applied or in a DLQ with
 * its error, exactly; the final metadata of every connection equal to the event-time fold of the
 * events applied to it; no overlapping writes at Nango; the key nowhere. Computed from what the
 * pipeline left behind (DLQ contents, the apply stage's deletions, the stand-in's stored metadata
 * and request log, captured output), never from the handlers' own counters.
 */
import { VERSIONS_KEY } from '#commons/apply/ordering';
import { patchMessageSchema } from '#commons/patch-message';
import type { DlqMessage, ObservedPatch, SentEvent } from '../pipeline.ts';
import type { EventSourceStats } from '../event-source.ts';
import type { NangoStandin, SeedConnection } from '../standins/nango.ts';
import type { FaultKind } from './faults.ts';
import type { Workload, WorkloadEvent } from './workload.ts';

export interface LeakSources {
  /** Occurrences found by the output capture (handler logs and EMF metrics). */
  logHits: number;
  logBytes: number;
  /** Errors thrown by handlers or the harness, as text. */
  errors: string[];
}

export interface InvariantInput {
  workload: Workload;
  sent: SentEvent[];
  dlq: DlqMessage[];
  patches: ObservedPatch[];
  nango: NangoStandin;
  keys: readonly string[];
  leaks: LeakSources;
  injected: Record<FaultKind, number>;
  route: EventSourceStats;
  apply: EventSourceStats;
  extra?: Record<string, string | number>;
}

export interface InvariantReport {
  eventsSent: number;
  copiesSent: number;
  duplicatesSent: number;
  lateEvents: number;
  connections: number;
  customers: number;
  /** (event, target connection) pairs the events must reach. */
  pairsExpected: number;
  pairsApplied: number;
  pairsInPatchesDlq: number;
  /** Pairs of valid events that SQS redrove bare to the ingress DLQ (route's transient failures exhausted). */
  pairsInIngressDlq: number;
  /** Valid events (routable or without connections) SQS redrove bare: route's lookups failed on every receive. */
  validEventsBareInIngressDlq: number;
  eventsInRouteDlq: number;
  bareDlqMessages: number;
  lost: number;
  /** An outcome the world does not allow: applied to a connection Nango lacks, a valid event refused by route... */
  unexpected: number;
  misorderedConnections: number;
  misorderedKeys: number;
  /** Writes to one connection that ran at once while the client still waited for both: the lost-update hazard. */
  overlaps: number;
  /** What the stand-in counted, including writes beside a request the client had abandoned (slow faults). */
  standinOverlaps: number;
  overlapsBesideAbandoned: number;
  keyLeaks: number;
  requests: number;
  faulted: number;
  faultRate: number;
  faultsByKind: Record<string, number>;
  unauthorized401: number;
  patchMessages: number;
  /** Distinct (event, connection) pairs among them: equal to patchMessages when the FIFO deduplicated every repeat. */
  distinctPatchPairs: number;
  patchDeliveries: number;
  dlqByCode: Record<string, number>;
  handlerErrors: number;
  crashes: number;
  problems: string[];
  extra: Record<string, string | number>;
}

const BARE_CODE = 'bare (SQS redrive)';
const pairKey = (eventId: string, t: { connectionId: string; providerConfigKey: string }) =>
  `${eventId}\u0000${t.providerConfigKey}\u0000${t.connectionId}`;
export const connKey = (t: { connectionId: string; providerConfigKey: string }) => `${t.providerConfigKey}\u0000${t.connectionId}`;

function count(haystack: string, needles: readonly string[]): number {
  let n = 0;
  for (const k of needles) {
    for (let at = haystack.indexOf(k); at >= 0; at = haystack.indexOf(k, at + 1)) n++;
  }
  return n;
}

/** Stable JSON for comparisons (own keys sorted). */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

export function computeInvariants(i: InvariantInput): InvariantReport {
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 12) problems.push(p);
  };
  const byBody = new Map<string, WorkloadEvent>();
  for (const e of i.workload.events) byBody.set(e.body, e);
  const byId = new Map(i.workload.events.map((e) => [e.id, e]));
  const byMessageId = new Map<string, WorkloadEvent>();
  for (const s of i.sent) {
    const e = byBody.get(s.body);
    if (e) byMessageId.set(s.messageId, e);
  }

  // DLQ contents.
  const routeDlq = new Map<string, string>();
  const pairDlq = new Map<string, string>();
  const dlqByCode: Record<string, number> = {};
  let bare = 0;
  for (const m of i.dlq) {
    const code = m.envelope?.error.code ?? BARE_CODE;
    dlqByCode[`${m.queue}: ${code}`] = (dlqByCode[`${m.queue}: ${code}`] ?? 0) + 1;
    if (!m.envelope) bare++;
    if (m.queue === 'ingress-dlq') {
      const env = m.envelope;
      const id = env?.events[0]?.id;
      const e =
        (id !== undefined ? byId.get(id) : undefined) ?? byMessageId.get(env?.originals[0]?.messageId ?? m.messageId) ?? byBody.get(m.body);
      if (e) routeDlq.set(e.id, code);
      else note(`ingress DLQ message ${m.messageId} matches no sent event`);
      continue;
    }
    if (m.envelope) {
      const t = m.envelope.target;
      if (!t) {
        note(`patches DLQ envelope without a target: ${m.envelope.error.code}`);
        continue;
      }
      for (const ev of m.envelope.events) pairDlq.set(pairKey(ev.id, t), code);
    } else {
      try {
        const pm = patchMessageSchema.parse(JSON.parse(m.body));
        pairDlq.set(pairKey(pm.event.id, pm.target), code);
      } catch {
        note(`patches DLQ holds a bare message that is not a patch message: ${m.messageId}`);
      }
    }
  }

  // What apply finished (deleted) and did not park: applied.
  const applied = new Set<string>();
  const observedPairs = new Set<string>();
  let deliveries = 0;
  for (const p of i.patches) {
    deliveries += p.deliveries;
    if (!p.message) continue;
    const k = pairKey(p.message.event.id, p.message.target);
    observedPairs.add(k);
    if (p.deleted && !pairDlq.has(k)) applied.add(k);
  }

  // Nango's side of "applied": a write to the connection set the event's time on each of its keys,
  // or a newer event's time is stored there (the event was stale and rightly dropped).
  const written = new Map<string, Map<string, Set<string>>>();
  const writesOf = (t: { connectionId: string; providerConfigKey: string }) => {
    let w = written.get(connKey(t));
    if (!w) {
      w = new Map();
      for (const h of i.nango.applyHistory(t.connectionId, t.providerConfigKey)) {
        const v = h.patch[VERSIONS_KEY];
        if (!v || typeof v !== 'object') continue;
        for (const [key, time] of Object.entries(v as Record<string, unknown>)) {
          if (typeof time !== 'string') continue;
          if (!w.has(key)) w.set(key, new Set());
          w.get(key)!.add(time);
        }
      }
      written.set(connKey(t), w);
    }
    return w;
  };
  const witnessed = (t: { connectionId: string; providerConfigKey: string }, time: string, keys: string[]) => {
    const w = writesOf(t);
    return keys.every((key) => w.get(key)?.has(time) || [...(w.get(key) ?? [])].some((x) => x > time));
  };

  // Every event's expectation against its outcome.
  let lost = 0;
  let unexpected = 0;
  let pairsExpected = 0;
  let pairsApplied = 0;
  let pairsDlq = 0;
  let pairsIngressDlq = 0;
  let validEventsBare = 0;
  const expectedPairs = new Set<string>();
  const appliedByConnection = new Map<string, AppliedPatch[]>();
  for (const e of i.workload.events) {
    const x = e.expect;
    if (x.kind !== 'routed') {
      if (!routeDlq.has(e.id)) {
        lost++;
        note(`event ${e.id} (${x.kind === 'invalid' ? x.reason : x.kind}) is not in the ingress DLQ`);
      } else if (x.kind === 'no-connections' && routeDlq.get(e.id) === BARE_CODE) {
        // Its lookups failed on every receive: parked bare by SQS, before route could learn there is no connection.
        validEventsBare++;
      } else if (x.kind === 'no-connections' && routeDlq.get(e.id) !== 'no_connections') {
        unexpected++;
        note(`event ${e.id}: ingress DLQ code ${routeDlq.get(e.id)}, expected no_connections`);
      }
      continue;
    }
    // Route parks a valid event only bare, by SQS redrive, after its transient failures (a Nango lookup,
    // a send) used every receive: the event sits in the DLQ, replayable. An envelope would mean route
    // refused a valid event.
    const routeParked = routeDlq.get(e.id);
    if (routeParked !== undefined && routeParked !== BARE_CODE) {
      unexpected++;
      note(`valid event ${e.id} was refused by route: ${routeParked}`);
    }
    if (routeParked === BARE_CODE) validEventsBare++;
    for (const t of x.targets) {
      const k = pairKey(e.id, t);
      expectedPairs.add(k);
      pairsExpected++;
      if (applied.has(k) && !witnessed(t, x.time, Object.keys(x.patch))) {
        // Apply let go of it, no DLQ holds it, and no write at Nango ever carried it: lost.
        lost++;
        note(`event ${e.id} -> ${t.providerConfigKey}/${t.connectionId}: done by apply, in no DLQ, and no write at Nango carried it`);
      } else if (applied.has(k)) {
        pairsApplied++;
        if (t.refused) {
          unexpected++;
          note(`event ${e.id} counted applied to ${t.providerConfigKey}/${t.connectionId}, which Nango does not have`);
        }
        const list = appliedByConnection.get(connKey(t)) ?? [];
        list.push({ time: x.time, index: e.index, patch: x.patch });
        appliedByConnection.set(connKey(t), list);
      } else if (pairDlq.has(k)) {
        pairsDlq++;
        if (!t.refused && pairDlq.get(k) === 'unknown_connection') {
          unexpected++;
          note(`event ${e.id} -> ${t.providerConfigKey}/${t.connectionId}: unknown_connection for a connection Nango has`);
        }
      } else if (routeParked === BARE_CODE) {
        pairsIngressDlq++;
      } else {
        lost++;
        note(`event ${e.id} -> ${t.providerConfigKey}/${t.connectionId}: neither applied nor in a DLQ`);
      }
    }
  }
  for (const k of observedPairs) {
    if (!expectedPairs.has(k)) {
      unexpected++;
      note(`a patch message for a pair no event asked for: ${k.replaceAll('\u0000', ' | ')}`);
    }
  }

  // The final metadata of every connection: the fold of its applied events, in event-time order.
  const fold = checkFold(i.nango.connections(), i.workload.connections, appliedByConnection);
  const misorderedConnections = fold.connections;
  const misorderedKeys = fold.keys;
  for (const p of fold.problems) note(p);

  // The key: in captured output, DLQ messages, handler errors, patch messages, the stand-in's request log.
  const keys = i.keys.filter(Boolean);
  let keyLeaks = i.leaks.logHits;
  for (const m of i.dlq) keyLeaks += count(m.body, keys) + count(JSON.stringify(m.attributes), keys);
  for (const err of i.leaks.errors) keyLeaks += count(err, keys);
  for (const p of i.patches) keyLeaks += count(p.body, keys);
  for (const r of i.nango.requests)
    keyLeaks +=
      count(JSON.stringify({ ...r.headers, authorization: undefined }), keys) +
      count(typeof r.body === 'string' ? r.body : JSON.stringify(r.body ?? ''), keys);

  const stats = i.nango.stats();
  const ov = writeOverlaps(i.nango);
  const faulted = i.nango.requests.filter((r) => r.fault !== undefined).length;
  const unauthorized401 = stats.byStatus[401] ?? 0;
  const distinct = new Set(i.workload.events.map((e) => e.id));
  return {
    eventsSent: distinct.size,
    copiesSent: i.sent.length,
    duplicatesSent: i.sent.length - distinct.size,
    lateEvents: i.workload.wave2.length,
    connections: i.workload.connections.length,
    customers: i.workload.customers.length,
    pairsExpected,
    pairsApplied,
    pairsInPatchesDlq: pairsDlq,
    pairsInIngressDlq: pairsIngressDlq,
    validEventsBareInIngressDlq: validEventsBare,
    eventsInRouteDlq: routeDlq.size,
    bareDlqMessages: bare,
    lost,
    unexpected,
    misorderedConnections,
    misorderedKeys,
    overlaps: ov.live,
    standinOverlaps: stats.overlaps,
    overlapsBesideAbandoned: ov.besideAbandoned,
    keyLeaks,
    requests: stats.requests,
    faulted,
    faultRate: stats.requests ? faulted / stats.requests : 0,
    faultsByKind: { ...i.injected },
    unauthorized401,
    patchMessages: i.patches.length,
    distinctPatchPairs: observedPairs.size,
    patchDeliveries: deliveries,
    dlqByCode,
    handlerErrors:
      i.route.errors + i.apply.errors + i.route.invalidResponses + i.apply.invalidResponses + i.route.timeouts + i.apply.timeouts,
    crashes: i.route.crashes + i.apply.crashes,
    problems,
    extra: i.extra ?? {},
  };
}

export interface AppliedPatch {
  time: string;
  /** Tie-break for equal times (arrival order). */
  index: number;
  patch: Record<string, unknown>;
}

/**
 * Each connection's stored metadata against its seed folded with the patches applied to it, in
 * event-time order (ties: index), and its versions map against the newest time of each key.
 */
export function checkFold(
  final: readonly SeedConnection[],
  seeds: readonly SeedConnection[],
  applied: ReadonlyMap<string, AppliedPatch[]>,
): { connections: number; keys: number; problems: string[] } {
  const bySeed = new Map<string, SeedConnection>(seeds.map((c) => [connKey(c), c]));
  let connections = 0;
  let keys = 0;
  const problems: string[] = [];
  for (const c of final) {
    const seed = bySeed.get(connKey(c));
    const list = [...(applied.get(connKey(c)) ?? [])].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.index - b.index));
    let want: Record<string, unknown> = seed?.metadata ? { ...seed.metadata } : {};
    const versions: Record<string, string> = {};
    for (const a of list) {
      want = { ...want, ...a.patch };
      for (const k of Object.keys(a.patch)) versions[k] = a.time;
    }
    const got = c.metadata ?? {};
    const { [VERSIONS_KEY]: gotVersions, ...gotRest } = got;
    let bad = 0;
    for (const k of new Set([...Object.keys(want), ...Object.keys(gotRest)]))
      if (canonical(want[k]) !== canonical((gotRest as Record<string, unknown>)[k])) bad++;
    if (list.length ? canonical(gotVersions) !== canonical(versions) : gotVersions !== undefined) bad++;
    if (bad) {
      connections++;
      keys += bad;
      if (problems.length < 5) {
        problems.push(
          `connection ${c.providerConfigKey}/${c.connectionId}: ${bad} key(s) differ from the event-time fold (got ${canonical(c.metadata).slice(0, 300)}, want ${canonical(want).slice(0, 300)} with versions ${canonical(versions).slice(0, 200)})`,
        );
      }
    }
  }
  return { connections, keys, problems };
}

/** The connection a write request is about (current endpoint: the body; legacy: the path and header). */
function writeTarget(r: NangoStandin['requests'][number]): string | undefined {
  if (r.method !== 'PATCH' && r.method !== 'POST') return undefined;
  if (r.path === '/connections/metadata') {
    const b = r.body as { connection_id?: unknown; provider_config_key?: unknown } | undefined;
    return typeof b?.connection_id === 'string' && typeof b.provider_config_key === 'string'
      ? `${b.provider_config_key}\u0000${b.connection_id}`
      : undefined;
  }
  const m = /^\/connection\/([^/]+)\/metadata$/.exec(r.path);
  if (!m) return undefined;
  try {
    return `${r.headers['provider-config-key'] ?? ''}\u0000${decodeURIComponent(m[1]!)}`;
  } catch {
    return undefined;
  }
}

/**
 * Overlapping writes per connection, from the stand-in's request log. A "slow" fault holds a request
 * past the client's timeout and never applies it: the client has given up and retries, so the
 * stand-in sees two writes at once although only one can land. Those are counted apart; any other
 * overlap is a concurrency bug.
 */
export function writeOverlaps(nango: NangoStandin): { live: number; besideAbandoned: number } {
  const byConn = new Map<string, { start: number; end: number; abandoned: boolean }[]>();
  for (const r of nango.requests) {
    const k = writeTarget(r);
    if (k === undefined) continue;
    const list = byConn.get(k) ?? [];
    list.push({ start: r.startedAt, end: r.endedAt ?? Number.POSITIVE_INFINITY, abandoned: r.fault === 'delay' });
    byConn.set(k, list);
  }
  let live = 0;
  let besideAbandoned = 0;
  for (const list of byConn.values()) {
    list.sort((a, b) => a.start - b.start);
    for (let j = 1; j < list.length; j++) {
      const w = list[j]!;
      const open = list.slice(0, j).filter((p) => p.end > w.start);
      if (open.length === 0) continue;
      if (w.abandoned || open.every((p) => p.abandoned)) besideAbandoned++;
      else live++;
    }
  }
  return { live, besideAbandoned };
}

const fmt = (n: number) => n.toLocaleString('en-US');

export function formatInvariants(r: InvariantReport, title: string): string {
  const rows: [string, string][] = [
    [
      'events sent (distinct)',
      `${fmt(r.eventsSent)} over ${fmt(r.connections)} connections (${fmt(r.customers)} customers), 4 event types`,
    ],
    ['copies sent', `${fmt(r.copiesSent)} (${fmt(r.duplicatesSent)} duplicates; ${fmt(r.lateEvents)} older events sent after newer ones)`],
    ['pairs expected', `${fmt(r.pairsExpected)} (event x target connection)`],
    ['  applied', fmt(r.pairsApplied)],
    ['  in patches DLQ', fmt(r.pairsInPatchesDlq)],
    [
      '  in ingress DLQ',
      `${fmt(r.pairsInIngressDlq)} (${fmt(r.validEventsBareInIngressDlq)} valid events redriven bare by SQS after route's retries)`,
    ],
    ['events in ingress DLQ', fmt(r.eventsInRouteDlq)],
    ['bare DLQ messages', fmt(r.bareDlqMessages)],
    [
      'DLQ by code',
      Object.entries(r.dlqByCode)
        .sort()
        .map(([k, v]) => `${k} ${v}`)
        .join('; ') || '-',
    ],
    [
      'Nango requests',
      `${fmt(r.requests)}, faulted ${fmt(r.faulted)} (${(r.faultRate * 100).toFixed(1)}%), 401 after rotation ${fmt(r.unauthorized401)}`,
    ],
    [
      'faults by kind',
      Object.entries(r.faultsByKind)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ],
    [
      'patch messages',
      `${fmt(r.patchMessages)} for ${fmt(r.distinctPatchPairs)} distinct pairs (repeats deduplicated by the FIFO), ${fmt(r.patchDeliveries)} deliveries`,
    ],
    ['handler errors / crashes', `${fmt(r.handlerErrors)} / ${fmt(r.crashes)}`],
    ...Object.entries(r.extra).map(([k, v]): [string, string] => [k, typeof v === 'number' ? fmt(v) : v]),
    ['LOST', fmt(r.lost)],
    ['UNEXPECTED OUTCOMES', fmt(r.unexpected)],
    ['MISORDERED', `${fmt(r.misorderedConnections)} connections (${fmt(r.misorderedKeys)} keys)`],
    [
      'OVERLAPS',
      `${fmt(r.overlaps)} (the stand-in counted ${fmt(r.standinOverlaps)}: ${fmt(r.overlapsBesideAbandoned)} beside a request the client had abandoned at its timeout)`,
    ],
    ['KEY LEAKS', fmt(r.keyLeaks)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const lines = [`== ${title} ==`, ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`)];
  if (r.problems.length) lines.push('problems:', ...r.problems.map((p) => `  - ${p}`));
  return lines.join('\n');
}

/** The four headline invariants plus exact balance. */
export function invariantsHold(r: InvariantReport): boolean {
  return (
    r.lost === 0 &&
    r.unexpected === 0 &&
    r.misorderedConnections === 0 &&
    r.overlaps === 0 &&
    r.keyLeaks === 0 &&
    r.pairsExpected === r.pairsApplied + r.pairsInPatchesDlq + r.pairsInIngressDlq
  );
}
