/** The invariant report of a chaos run and its printed table. */
import type { CallCounts } from './calls.ts';

export interface InvariantReport {
  eventsSent: number;
  copiesSent: number;
  duplicatesSent: number;
  lateEvents: number;
  sameSecondPairs: number;
  invalidEvents: number;
  connections: number;
  connectionsCreatedMidRun: number;
  connectionsCreatedAfterTheirEvents: number;
  customers: number;
  /** (valid event, connection it must reach) pairs: an event with a key in scope for a connection of its subject. */
  pairs: number;
  webhooks: { sent: number; delivered: number };
  syncsByReason: Record<string, number>;
  syncDeliveries: number;
  /** Writes Nango applied, all connections. */
  patchesApplied: number;
  /** Applied writes nobody waited for (the client gave up, or its invocation was past its timeout). */
  patchesAbandoned: number;
  /** PATCHes (answered) by invocations that then died: their syncs were delivered again. */
  patchesRedone: number;
  /** Times connections became dirty: the sync messages (changes, seeds, repairs) that reached them. */
  dirtyBound: number;
  /** Connections PATCHed more often than they could have become dirty. */
  overPatched: number;
  /** Connections whose metadata differs from the fold (parked or lost). */
  mismatchedConnections: number;
  /** Keys that differ from the fold with a DLQ message saying why. */
  parkedMismatches: number;
  eventsInRouteDlq: number;
  bareDlqMessages: number;
  dlqByCode: Record<string, number>;
  /** Invalid events not parked, connections never created, keys off the fold with no DLQ message. */
  lost: number;
  /** Keys route wrote and synced to a connection that are not at it after the drain, with no DLQ message saying why. */
  keysLeftUnsent: number;
  /** A valid event refused by route. */
  unexpected: number;
  overlaps: number;
  standinOverlaps: number;
  overlapsBesideAbandoned: number;
  keyLeaks: number;
  legacyVersionKey: number;
  /** GET requests other than the list endpoint. */
  getById: number;
  /** Apply's GETs to Nango, and those that were not a seed's lookup of its connection by id. */
  applyReads: number;
  applyReadsBeyondLookups: number;
  /** Connections re-tagged through Nango's API during the run. */
  retags: number;
  /** Whether a sweep run started after the last re-tag (the tenancy window passed before the check). */
  sweptPastRetags: boolean;
  /** Keys a re-tagged connection holds (not null) that only a customer it left sets. */
  foreignKeys: number;
  /** Former customers' keys last written by an invocation that had died (Lambda would have stopped it). */
  foreignByDead: number;
  /** Such keys that were sent and then cleared to null. */
  foreignCleared: number;
  /** Keys of its current customers' state a re-tagged connection lacks (also counted as lost). */
  retaggedBehind: number;
  nangoCalls: Record<string, CallCounts>;
  requests: number;
  faulted: number;
  faultRate: number;
  faultsByKind: Record<string, number>;
  unauthorized401: number;
  handlerErrors: number;
  /** Invocations that outlived their function timeout (abandoned by the local event source; Lambda would kill them). */
  handlerTimeouts: number;
  crashes: number;
  problems: string[];
  extra: Record<string, string | number>;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const list = (o: Record<string, number>) =>
  Object.entries(o)
    .sort()
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join('; ') || '-';

export function formatInvariants(r: InvariantReport, title: string): string {
  const calls = Object.entries(r.nangoCalls)
    .sort()
    .map(([stage, c]) => `${stage}: ${fmt(c.get)} GET (${fmt(c.lookups)} by connection id), ${fmt(c.other)} other`)
    .join('; ');
  const rows: [string, string][] = [
    ['events sent (distinct)', `${fmt(r.eventsSent)} (${fmt(r.invalidEvents)} invalid), 4 event types, ${fmt(r.customers)} customers`],
    [
      'copies sent',
      `${fmt(r.copiesSent)} (${fmt(r.duplicatesSent)} duplicates; ${fmt(r.lateEvents)} older events sent after newer ones; ${fmt(r.sameSecondPairs)} same-second pairs)`,
    ],
    [
      'connections',
      `${fmt(r.connections)} (${fmt(r.connectionsCreatedMidRun)} created mid-run, ${fmt(r.connectionsCreatedAfterTheirEvents)} only after their events)`,
    ],
    ['pairs', `${fmt(r.pairs)} (valid event x connection it must reach)`],
    ['auth webhooks', `${fmt(r.webhooks.sent)} sent, ${fmt(r.webhooks.delivered)} delivered`],
    ['sync messages', `${list(r.syncsByReason)}; ${fmt(r.syncDeliveries)} deliveries`],
    [
      'PATCHes applied',
      `${fmt(r.patchesApplied)} (${fmt(r.patchesAbandoned)} nobody waited for, ${fmt(r.patchesRedone)} by invocations that died, whose syncs came back) for ${fmt(r.dirtyBound)} syncs that reached connections`,
    ],
    ['events in ingress DLQ', fmt(r.eventsInRouteDlq)],
    ['DLQ by code', list(r.dlqByCode)],
    ['bare DLQ messages', fmt(r.bareDlqMessages)],
    [
      'off the fold, parked',
      `${fmt(r.parkedMismatches)} keys (a DLQ message names each); ${fmt(r.mismatchedConnections)} connections differ`,
    ],
    [
      'Nango requests',
      `${fmt(r.requests)}, faulted ${fmt(r.faulted)} (${(r.faultRate * 100).toFixed(1)}%), 401 after rotation ${fmt(r.unauthorized401)}`,
    ],
    ['faults by kind', list(r.faultsByKind)],
    ['requests by stage', calls || '-'],
    ['handler errors / timeouts / crashes', `${fmt(r.handlerErrors)} / ${fmt(r.handlerTimeouts)} / ${fmt(r.crashes)}`],
    ...Object.entries(r.extra).map(([k, v]): [string, string] => [k, typeof v === 'number' ? fmt(v) : v]),
    ['LOST', fmt(r.lost)],
    ['KEYS LEFT UNSENT AFTER DRAIN', fmt(r.keysLeftUnsent)],
    ['UNEXPECTED OUTCOMES', fmt(r.unexpected)],
    ['PATCHED MORE THAN DIRTY', `${fmt(r.overPatched)} connections`],
    [
      'APPLY GETs BEYOND LOOKUPS / GET BY ID',
      `${fmt(r.applyReadsBeyondLookups)} (of ${fmt(r.applyReads)} apply GETs, all seed or re-tag lookups otherwise) / ${fmt(r.getById)}`,
    ],
    [
      'KEYS OUTSIDE CURRENT SUBJECTS',
      `${fmt(r.foreignKeys)} after ${fmt(r.retags)} re-tags (${fmt(r.foreignCleared)} sent then cleared to null; ${fmt(r.foreignByDead)} left by a write sent after its invocation died; ${fmt(r.retaggedBehind)} current keys missing; a sweep ran past the last re-tag: ${r.sweptPastRetags ? 'yes' : 'NO'})`,
    ],
    [
      'OVERLAPS',
      `${fmt(r.overlaps)} (the stand-in counted ${fmt(r.standinOverlaps)}: ${fmt(r.overlapsBesideAbandoned)} beside a write nobody waited for: the client past its timeout, or its invocation past its own)`,
    ],
    ['KEY LEAKS', fmt(r.keyLeaks)],
    ['_metadataSyncVersions', fmt(r.legacyVersionKey)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const lines = [`== ${title} ==`, ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`)];
  if (r.problems.length) lines.push('problems:', ...r.problems.map((p) => `  - ${p}`));
  return lines.join('\n');
}
