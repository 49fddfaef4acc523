/**
 * The benchmark's backlog: a deterministic mix of the catalog's tag-addressed event types over
 * customers that each have several Nango connections with random UUID ids and an `organization_id`
 * tag (the Connect UI scheme), and what each connection must end with: for every key we own, the
 * value of the write with the highest version (ties by event id), whatever order the events arrive in.
 *
 * Arrival order is the order of `events`: event-time order, with a share of late arrivals (a producer
 * retry, a second producer) moved back by up to `maxLateBy` positions, as a standard queue delivers.
 */
import { catalog, indexCatalog } from '#events/catalog';
import { eventKey, type EventDefinition, type Integrations, type MetadataPatch } from '#events/define';
import type { SeedConnection } from '../local/standins/nango.ts';
import { mulberry32 } from '../local/standins/nango/faults.ts';

export interface BenchEvent {
  id: string;
  source: string;
  'detail-type': string;
  time: string;
  detail: Record<string, unknown>;
}

export interface DatasetOptions {
  events: number;
  customers: number;
  /** Connections per customer cycle through these counts (integrations from INTEGRATIONS, in order). */
  connectionsPerCustomer: readonly number[];
  lateShare: number;
  maxLateBy: number;
  seed: number;
  /** Epoch ms of the first event. */
  startMs: number;
}

/** 125 customers x (2..6, mean 4) = 500 connections. */
export const DEFAULT_DATASET: DatasetOptions = {
  events: 5000,
  customers: 125,
  connectionsPerCustomer: [2, 3, 4, 5, 6],
  lateShare: 0.05,
  maxLateBy: 200,
  seed: 42,
  startMs: Date.UTC(2026, 0, 1),
};

export const INTEGRATIONS = ['salesforce', 'hubspot', 'zendesk', 'slack', 'intercom', 'jira'] as const;
/** Keys the catalog's tag-addressed events write: the keys we own. Anything else belongs to someone else. */
export const OWNED_KEYS = ['plan', 'planChangedAt', 'seats', 'seatsChangedAt', 'status', 'active', 'statusReason'];

export interface Dataset {
  options: DatasetOptions;
  connections: SeedConnection[];
  /** In arrival order. */
  events: BenchEvent[];
}

export const orgOf = (c: number, seed: number): string => `org-${seed}-${String(c).padStart(5, '0')}`;

/** A UUID v4 from the seeded generator, so one seed means one dataset. */
export function seededUuid(rnd: () => number): string {
  const h = Array.from({ length: 32 }, () => Math.floor(rnd() * 16).toString(16));
  h[12] = '4';
  h[16] = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export function makeConnections(o: Pick<DatasetOptions, 'customers' | 'connectionsPerCustomer' | 'seed'>, from = 0): SeedConnection[] {
  const rnd = mulberry32(o.seed * 7919 + from);
  const out: SeedConnection[] = [];
  for (let c = from; c < from + o.customers; c++) {
    const n = o.connectionsPerCustomer[c % o.connectionsPerCustomer.length]!;
    for (let i = 0; i < n; i++) {
      const pck = INTEGRATIONS[i % INTEGRATIONS.length]!;
      out.push({
        connectionId: seededUuid(rnd),
        providerConfigKey: pck,
        provider: pck,
        tags: { organization_id: orgOf(c, o.seed), end_user_id: `u-${c}-${i}` },
        // A key someone else owns, which a merge must keep; some connections start with stale values of ours.
        metadata: i % 2 === 0 ? { plan: 'starter', seats: 5, crm_owner: `owner-${c}` } : { crm_owner: `owner-${c}` },
      });
    }
  }
  return out;
}

export function makeDataset(o: Partial<DatasetOptions> = {}): Dataset {
  const opts = { ...DEFAULT_DATASET, ...o };
  const rnd = mulberry32(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const connections = makeConnections(opts);
  const inTimeOrder: BenchEvent[] = [];
  for (let i = 0; i < opts.events; i++) {
    // One event per second: EventBridge times have 1 s resolution, the billing stamps milliseconds.
    const second = opts.startMs + i * 1000;
    const changedAt = new Date(second + Math.floor(rnd() * 900)).toISOString();
    inTimeOrder.push({
      id: `bench-${opts.seed}-${i}`,
      time: new Date(second).toISOString(),
      ...eventFor(orgOf(Math.floor(rnd() * opts.customers), opts.seed), changedAt, rnd, pick),
    });
  }
  const events = [...inTimeOrder];
  for (let i = events.length - 1; i >= 0; i--) {
    if (rnd() >= opts.lateShare) continue;
    const to = Math.min(events.length - 1, i + 1 + Math.floor(rnd() * opts.maxLateBy));
    const [ev] = events.splice(i, 1);
    events.splice(to, 0, ev!);
  }
  return { options: opts, connections, events };
}

function eventFor(org: string, changedAt: string, rnd: () => number, pick: <T>(xs: readonly T[]) => T): Omit<BenchEvent, 'id' | 'time'> {
  const r = rnd();
  if (r < 0.3) {
    return {
      source: 'app.billing',
      'detail-type': 'customer.plan_changed',
      detail: { organizationId: org, plan: pick(['free', 'starter', 'pro', 'enterprise']), changedAt },
    };
  }
  if (r < 0.7) {
    return {
      source: 'app.billing',
      'detail-type': 'customer.seats_changed',
      detail: { organizationId: org, seats: 1 + Math.floor(rnd() * 500), changedAt },
    };
  }
  const status = pick(['active', 'suspended', 'churned'] as const);
  return {
    source: 'app.accounts',
    'detail-type': 'customer.status_changed',
    detail: { organizationId: org, status, ...(status !== 'active' ? { reason: pick(['payment failed', 'requested']) } : {}), changedAt },
  };
}

const index = indexCatalog(catalog);

export interface Mapped {
  tags: Record<string, string>;
  integrations: Integrations;
  patch: MetadataPatch;
  version: number;
}

/** The catalog's own mapping of a bench event (tag subjects only; the bench sends no other). */
export function mapEvent(e: BenchEvent): Mapped {
  const def = index.get(eventKey(e.source, e['detail-type'])) as EventDefinition | undefined;
  if (!def || def.subject.by !== 'tags') throw new Error(`bench dataset: ${e['detail-type']} is not a tag-addressed catalog entry`);
  const d = def.detail.parse(e.detail);
  const integrations = typeof def.subject.integrations === 'function' ? def.subject.integrations(d) : def.subject.integrations;
  return { tags: def.subject.tags(d), integrations, patch: def.patch(d), version: def.version ? def.version(d) : Date.parse(e.time) };
}

export const connectionKey = (connectionId: string, providerConfigKey: string): string => `${providerConfigKey}\u0000${connectionId}`;

/** The connections an event reaches: tags match and the integration is in scope. */
export function connectionsOf(m: Mapped, connections: readonly SeedConnection[]): SeedConnection[] {
  return connections.filter(
    (c) =>
      Object.entries(m.tags).every(([k, v]) => c.tags?.[k] === v) &&
      (m.integrations === 'all' || m.integrations.includes(c.providerConfigKey)),
  );
}

/** Per connection, the owned keys' final values: the highest version wins, ties by event id. */
export function foldByVersion(connections: readonly SeedConnection[], events: readonly BenchEvent[]): Map<string, Record<string, unknown>> {
  const best = new Map<string, Map<string, { version: number; id: string; value: unknown }>>();
  for (const e of events) {
    const m = mapEvent(e);
    for (const c of connectionsOf(m, connections)) {
      const k = connectionKey(c.connectionId, c.providerConfigKey);
      const keys = best.get(k) ?? new Map();
      best.set(k, keys);
      for (const [key, value] of Object.entries(m.patch)) {
        const cur = keys.get(key);
        if (!cur || m.version > cur.version || (m.version === cur.version && e.id > cur.id))
          keys.set(key, { version: m.version, id: e.id, value });
      }
    }
  }
  const out = new Map<string, Record<string, unknown>>();
  for (const c of connections) {
    const k = connectionKey(c.connectionId, c.providerConfigKey);
    const want: Record<string, unknown> = {};
    for (const key of OWNED_KEYS) if (c.metadata && key in c.metadata) want[key] = c.metadata[key];
    for (const [key, w] of best.get(k) ?? []) want[key] = w.value;
    out.set(k, want);
  }
  return out;
}

/** (event, connection) pairs: what a consumer that forwards each event makes one call for. */
export function eventConnectionPairs(connections: readonly SeedConnection[], events: readonly BenchEvent[]): number {
  return events.reduce((n, e) => n + connectionsOf(mapEvent(e), connections).length, 0);
}

export interface FinalStateCheck {
  connections: number;
  /** Connections where a key we own differs from the fold by version, or a key of someone else's was lost. */
  wrongConnections: number;
  wrongKeys: number;
}

export function checkFinalState(
  connections: readonly SeedConnection[],
  expected: ReadonlyMap<string, Record<string, unknown>>,
  actualOf: (connectionId: string, providerConfigKey: string) => Record<string, unknown> | null | undefined,
): FinalStateCheck {
  let wrongConnections = 0;
  let wrongKeys = 0;
  for (const c of connections) {
    const want = expected.get(connectionKey(c.connectionId, c.providerConfigKey)) ?? {};
    const got = actualOf(c.connectionId, c.providerConfigKey) ?? {};
    let wrong = 0;
    for (const k of OWNED_KEYS) if (JSON.stringify(want[k]) !== JSON.stringify(got[k])) wrong++;
    // Someone else's key must survive every write (a merge, never a replace).
    if (c.metadata?.crm_owner !== undefined && got.crm_owner !== c.metadata.crm_owner) wrong++;
    if (wrong) {
      wrongConnections++;
      wrongKeys += wrong;
    }
  }
  return { connections: connections.length, wrongConnections, wrongKeys };
}
