/**
 * The benchmark's backlog: a deterministic, realistic mix of the catalog's event types over a set of
 * customers, each with two or three Nango connections (integrations), and the metadata each
 * connection must end with (the event-time fold: every patch applied in the order the events
 * happened, Nango's shallow merge).
 *
 * Arrival order is the order of `events`: mostly event-time order, with a share of late arrivals
 * (a producer retry, a second producer) moved back by up to `maxLateBy` positions, as happens on a
 * standard queue. That is what separates an event-time consumer from an arrival-order one.
 */
import { catalog, indexCatalog } from '#events/catalog';
import { eventKey, type MetadataPatch, type TargetSpec } from '#events/define';
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
  /** Every n-th customer also has a third integration (zendesk). */
  thirdIntegrationEvery: number;
  /** Share of events that arrive late. */
  lateShare: number;
  maxLateBy: number;
  seed: number;
}

export const DEFAULT_DATASET: DatasetOptions = {
  events: 5000,
  customers: 200,
  thirdIntegrationEvery: 2,
  lateShare: 0.05,
  maxLateBy: 200,
  seed: 42,
};

export interface Dataset {
  options: DatasetOptions;
  connections: SeedConnection[];
  /** In arrival order. */
  events: BenchEvent[];
}

/** The fault injector's seeded PRNG (mulberry32), so one seed means one dataset. */
export const prng = mulberry32;

/** Ids as real apps make them; a few with the characters Nango allows that need care on the wire. */
export function customerId(i: number): string {
  if (i % 50 === 7) return `org/${i} team@example.com`;
  return `cust-${String(i).padStart(5, '0')}`;
}

export function makeDataset(o: Partial<DatasetOptions> = {}): Dataset {
  const opts = { ...DEFAULT_DATASET, ...o };
  const rnd = prng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

  const connections: SeedConnection[] = [];
  for (let c = 0; c < opts.customers; c++) {
    const id = customerId(c);
    connections.push({
      connectionId: id,
      providerConfigKey: 'salesforce',
      provider: 'salesforce',
      metadata: { plan: 'starter', seats: 5 },
    });
    connections.push({ connectionId: id, providerConfigKey: 'hubspot', provider: 'hubspot', metadata: null });
    if (c % opts.thirdIntegrationEvery === 0)
      connections.push({ connectionId: id, providerConfigKey: 'zendesk', provider: 'zendesk', metadata: { region: 'us' } });
  }

  const t0 = Date.UTC(2026, 0, 1);
  const inTimeOrder: BenchEvent[] = [];
  for (let i = 0; i < opts.events; i++) {
    const time = new Date(t0 + i * 1000 + Math.floor(rnd() * 900)).toISOString();
    const customer = customerId(Math.floor(rnd() * opts.customers));
    const id = `bench-${opts.seed}-${i}`;
    const r = rnd();
    let e: Omit<BenchEvent, 'id' | 'time'>;
    if (r < 0.2) {
      e = {
        source: 'app.billing',
        'detail-type': 'customer.plan_changed',
        detail: { customerId: customer, plan: pick(['free', 'starter', 'pro', 'enterprise']), changedAt: time },
      };
    } else if (r < 0.5) {
      e = {
        source: 'app.billing',
        'detail-type': 'customer.seats_changed',
        detail: { customerId: customer, seats: 1 + Math.floor(rnd() * 500), changedAt: time },
      };
    } else if (r < 0.7) {
      const status = pick(['active', 'suspended', 'churned'] as const);
      e = {
        source: 'app.accounts',
        'detail-type': 'customer.status_changed',
        detail: {
          customerId: customer,
          status,
          ...(status !== 'active' ? { reason: pick(['payment failed', 'requested', 'fraud review']) } : {}),
          changedAt: time,
        },
      };
    } else {
      const detail: Record<string, unknown> = { customerId: customer };
      if (rnd() < 0.7) detail.region = pick(['us', 'eu', 'ap']);
      if (detail.region === undefined || rnd() < 0.5) detail.flags = { beta: rnd() < 0.5, sso: rnd() < 0.5 };
      if (rnd() < 0.4) detail.integrations = ['salesforce'];
      e = { source: 'app.accounts', 'detail-type': 'customer.settings_changed', detail };
    }
    inTimeOrder.push({ id, time, ...e });
  }

  // Late arrivals: moved back in the arrival order, their event time unchanged.
  const events = [...inTimeOrder];
  for (let i = events.length - 1; i >= 0; i--) {
    if (rnd() >= opts.lateShare) continue;
    const to = Math.min(events.length - 1, i + 1 + Math.floor(rnd() * opts.maxLateBy));
    const [ev] = events.splice(i, 1);
    events.splice(to, 0, ev!);
  }
  return { options: opts, connections, events };
}

export const connectionKey = (connectionId: string, providerConfigKey: string): string => `${providerConfigKey}\u0000${connectionId}`;

const index = indexCatalog(catalog);

/** The (connection, patch) pairs an event produces, resolving `'all'` from the seeded connections. */
export function targetsOf(
  e: BenchEvent,
  integrationsOf: (connectionId: string) => string[],
): { connectionId: string; providerConfigKey: string; patch: MetadataPatch }[] {
  const def = index.get(eventKey(e.source, e['detail-type']));
  if (!def) throw new Error(`bench dataset: no catalog entry for ${e['detail-type']}`);
  const detail = def.detail.parse(e.detail);
  const t = def.targets(detail);
  const specs = (Array.isArray(t) ? t : [t]) as TargetSpec[];
  const patch = def.patch(detail);
  const out: { connectionId: string; providerConfigKey: string; patch: MetadataPatch }[] = [];
  for (const s of specs) {
    const keys = s.integrations === 'all' ? integrationsOf(s.connectionId) : s.integrations;
    for (const k of keys) out.push({ connectionId: s.connectionId, providerConfigKey: k, patch });
  }
  return out;
}

export function integrationsIndex(connections: readonly SeedConnection[]): (connectionId: string) => string[] {
  const m = new Map<string, string[]>();
  for (const c of connections) m.set(c.connectionId, [...(m.get(c.connectionId) ?? []), c.providerConfigKey]);
  return (id) => m.get(id) ?? [];
}

/** Final metadata per connection when every event's patch is applied in event-time order. */
export function eventTimeFold(connections: readonly SeedConnection[], events: readonly BenchEvent[]): Map<string, Record<string, unknown>> {
  const state = new Map<string, Record<string, unknown>>();
  for (const c of connections) state.set(connectionKey(c.connectionId, c.providerConfigKey), { ...(c.metadata ?? {}) });
  const integrationsOf = integrationsIndex(connections);
  const ordered = [...events].sort((a, b) => a.time.localeCompare(b.time));
  for (const e of ordered) {
    for (const t of targetsOf(e, integrationsOf)) {
      const k = connectionKey(t.connectionId, t.providerConfigKey);
      state.set(k, { ...state.get(k), ...t.patch });
    }
  }
  return state;
}

/** Patch messages (one per event and target connection) the backlog turns into. */
export function patchCount(connections: readonly SeedConnection[], events: readonly BenchEvent[]): number {
  const integrationsOf = integrationsIndex(connections);
  return events.reduce((n, e) => n + targetsOf(e, integrationsOf).length, 0);
}

/** Requests the SDK consumer makes for these events: one PATCH per target, one list per customer with an `'all'` target (cached). */
export function sdkCalls(connections: readonly SeedConnection[], events: readonly BenchEvent[]): number {
  const lists = new Set<string>();
  for (const e of events) {
    const def = index.get(eventKey(e.source, e['detail-type']))!;
    const t = def.targets(def.detail.parse(e.detail));
    for (const spec of (Array.isArray(t) ? t : [t]) as TargetSpec[]) if (spec.integrations === 'all') lists.add(spec.connectionId);
  }
  return patchCount(connections, events) + lists.size;
}

export interface FinalStateCheck {
  connections: number;
  /** Connections whose final metadata differs from the event-time fold. */
  wrongConnections: number;
  /** Keys (over all connections) whose final value differs. */
  wrongKeys: number;
}

/** Compares final metadata against the fold; keys starting with `_metadataSync` (ordering bookkeeping) are ignored. */
export function checkFinalState(
  expected: ReadonlyMap<string, Record<string, unknown>>,
  actualOf: (connectionId: string, providerConfigKey: string) => Record<string, unknown> | null | undefined,
  connections: readonly SeedConnection[],
): FinalStateCheck {
  let wrongConnections = 0;
  let wrongKeys = 0;
  for (const c of connections) {
    const want = expected.get(connectionKey(c.connectionId, c.providerConfigKey)) ?? {};
    const got = { ...(actualOf(c.connectionId, c.providerConfigKey) ?? {}) };
    for (const k of Object.keys(got)) if (k.startsWith('_metadataSync')) delete got[k];
    const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
    let wrong = 0;
    for (const k of keys) if (JSON.stringify(want[k]) !== JSON.stringify(got[k])) wrong++;
    if (wrong) {
      wrongConnections++;
      wrongKeys += wrong;
    }
  }
  return { connections: connections.length, wrongConnections, wrongKeys };
}
