/**
 * A seeded chaos workload: a world of customers and their Nango connections, a timeline of domain
 * events over the catalog's event types, and the order they are sent in (local shuffles, held-back
 * older events sent after newer ones, duplicates, invalid bodies). Same seed, same workload.
 *
 * Every event carries its own expectation, derived from the catalog (targets and patch) and the
 * world: which connections it must reach, and whether Nango must refuse it (no such connection).
 */
import { catalog } from '#events/catalog';
import type { EventDefinition, MetadataPatch } from '#events/define';
import type { SeedConnection } from '../standins/nango.ts';
import { mulberry32 } from '../standins/nango/faults.ts';

export interface WorkloadConfig {
  seed: number;
  /** Distinct events (duplicates come on top). */
  events: number;
  /** Customers that exist in Nango, each with 1 to 3 integrations. */
  customers: number;
  /** Share of events that are invalid (not JSON, wrong types, unknown type...). */
  invalidShare: number;
  /** Share of events aimed at customers Nango does not have. */
  ghostShare: number;
  /** Share of events sent a second time, later. */
  duplicateShare: number;
  /** Share of customers whose older events are held back and sent after everything else. */
  lateCustomerShare: number;
  /** Extra customers whose every apply-side request fails: their patches must reach the DLQ with the last error. */
  cursedCustomers: number;
  /** Events aimed at each cursed customer (few: each batch of them takes maxReceiveCount visibility timeouts). */
  cursedEvents: number;
}

export type Expect =
  | { kind: 'invalid'; reason: string }
  /** Routed: one pair per target; `refused` targets have no Nango connection (404 expected). */
  | { kind: 'routed'; targets: { connectionId: string; providerConfigKey: string; refused: boolean }[]; patch: MetadataPatch; time: string }
  /** Targets 'all' for a customer Nango does not know: route parks it (no_connections). */
  | { kind: 'no-connections' };

export interface WorkloadEvent {
  /** Index in the timeline (event time order). */
  index: number;
  /** EventBridge id; for a body that is not JSON, the key is matched through the SQS message id. */
  id: string;
  body: string;
  detailType: string;
  expect: Expect;
  late: boolean;
  duplicated: boolean;
}

export interface Workload {
  config: WorkloadConfig;
  connections: SeedConnection[];
  customers: string[];
  ghosts: string[];
  cursed: string[];
  events: WorkloadEvent[];
  /** Bodies in send order for the first wave (duplicates included) ... */
  wave1: WorkloadEvent[];
  /** ... and the held-back older events (plus their duplicates), sent once wave 1 is routed. */
  wave2: WorkloadEvent[];
}

const INTEGRATIONS = ['salesforce', 'hubspot', 'zendesk'] as const;
const PLANS = ['free', 'starter', 'pro', 'enterprise'] as const;
const STATUSES = ['active', 'suspended', 'churned'] as const;
const REGIONS = ['us', 'eu', 'ap'] as const;
const BASE_TIME = Date.parse('2026-01-01T00:00:00.000Z');

const byType = (t: string): EventDefinition => {
  const d = catalog.find((e) => e.detailType === t);
  if (!d) throw new Error(`workload: catalog has no ${t}`);
  return d;
};

/** Customer ids with the characters Nango allows and URLs mangle, so encoding is exercised at volume. */
function customerId(i: number, rand: () => number): string {
  const n = String(i).padStart(4, '0');
  const r = rand();
  if (r < 0.1) return `acme/eu ${n}@example.com`;
  if (r < 0.15) return `..${n}`;
  if (r < 0.2) return `{team:${n}} "q" $x|y`;
  return `cust-${n}`;
}

export function buildWorkload(config: WorkloadConfig): Workload {
  const rand = mulberry32(config.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number) => rand() < p;

  const customers: string[] = [];
  const integrationsOf = new Map<string, string[]>();
  const connections: SeedConnection[] = [];
  for (let i = 0; i < config.customers; i++) {
    const id = customerId(i, rand);
    customers.push(id);
    const r = rand();
    const ints = r < 0.2 ? ['salesforce'] : r < 0.9 ? ['salesforce', 'hubspot'] : [...INTEGRATIONS];
    integrationsOf.set(id, ints);
    for (const k of ints) {
      // Some connections start with metadata the events never touch: it must survive every PATCH.
      const metadata = chance(0.5) ? { tenant: `t-${i}`, plan: 'free' } : chance(0.5) ? {} : null;
      connections.push({ connectionId: id, providerConfigKey: k, provider: k, metadata });
    }
  }
  const cursed = Array.from({ length: config.cursedCustomers }, (_, i) => `cursed-${i}`);
  for (const id of cursed) {
    integrationsOf.set(id, ['salesforce']);
    connections.push({ connectionId: id, providerConfigKey: 'salesforce', provider: 'salesforce', metadata: null });
  }
  // Early in the timeline, so their receives overlap the rest of the run.
  const cursedAt = new Map<number, string>();
  cursed.forEach((id, c) => {
    for (let j = 0; j < config.cursedEvents; j++) cursedAt.set(5 + c * 7 + j * 3, id);
  });
  const ghosts = Array.from({ length: Math.max(1, Math.round(config.customers * 0.05)) }, (_, i) => `ghost-${String(i).padStart(3, '0')}`);
  const late = new Set(customers.filter(() => chance(config.lateCustomerShare)));

  const events: WorkloadEvent[] = [];
  for (let index = 0; index < config.events; index++) {
    const time = new Date(BASE_TIME + index * 1000 + Math.floor(rand() * 900)).toISOString();
    const id = `evt-${config.seed}-${String(index).padStart(6, '0')}`;
    if (!cursedAt.has(index) && chance(config.invalidShare)) {
      events.push({ index, id, late: false, duplicated: false, ...invalidEvent(id, time, pick(customers), rand) });
      continue;
    }
    const ghost = chance(config.ghostShare);
    const customer = cursedAt.get(index) ?? (ghost ? pick(ghosts) : pick(customers));
    const r = cursedAt.has(index) ? 0.4 : rand();
    const type =
      r < 0.3
        ? 'customer.plan_changed'
        : r < 0.55
          ? 'customer.seats_changed'
          : r < 0.8
            ? 'customer.status_changed'
            : 'customer.settings_changed';
    const def = byType(type);
    let detail: Record<string, unknown>;
    switch (type) {
      case 'customer.plan_changed':
        detail = { customerId: customer, plan: pick(PLANS), ...(chance(0.5) ? { previousPlan: pick(PLANS) } : {}), changedAt: time };
        break;
      case 'customer.seats_changed':
        detail = { customerId: customer, seats: Math.floor(rand() * 500), changedAt: time };
        break;
      case 'customer.status_changed':
        detail = { customerId: customer, status: pick(STATUSES), ...(chance(0.3) ? { reason: `ticket #${index}` } : {}), changedAt: time };
        break;
      default: {
        const flags = chance(0.6) ? { beta: chance(0.5), exports: chance(0.5), ...(chance(0.3) ? { constructor: true } : {}) } : undefined;
        detail = { customerId: customer, ...(chance(0.7) || !flags ? { region: pick(REGIONS) } : {}), ...(flags ? { flags } : {}) };
        // Sometimes an explicit integration list, occasionally one the customer does not have.
        if (chance(0.15)) detail.integrations = chance(0.5) ? ['salesforce'] : ['salesforce', 'zendesk'];
      }
    }
    const envelope = {
      version: '0',
      id,
      source: def.source,
      'detail-type': def.detailType,
      account: '123456789012',
      time,
      region: 'us-east-1',
      resources: [],
      detail,
    };
    const parsed = def.detail.parse(detail);
    const patch = def.patch(parsed);
    const specs = [def.targets(parsed)].flat();
    const known = integrationsOf.get(customer);
    const targets: { connectionId: string; providerConfigKey: string; refused: boolean }[] = [];
    let noConnections = false;
    for (const spec of specs) {
      if (spec.integrations === 'all') {
        if (!known) noConnections = true;
        else for (const k of known) targets.push({ connectionId: spec.connectionId, providerConfigKey: k, refused: false });
      } else {
        for (const k of spec.integrations)
          targets.push({ connectionId: spec.connectionId, providerConfigKey: k, refused: !known?.includes(k) });
      }
    }
    const expect: Expect = noConnections
      ? { kind: 'no-connections' }
      : { kind: 'routed', targets, patch, time: new Date(time).toISOString() };
    events.push({
      index,
      id,
      body: JSON.stringify(envelope),
      detailType: type,
      expect,
      late: !ghost && late.has(customer) && index < config.events * 0.6 && chance(0.6),
      duplicated: chance(config.duplicateShare),
    });
  }

  // Send order: time order with local shuffles (a producer's retries, several producers), late ones last.
  const wave1: WorkloadEvent[] = [];
  const wave2: WorkloadEvent[] = [];
  const onTime = events.filter((e) => !e.late);
  for (let i = 0; i < onTime.length; i += 16) {
    const window = onTime.slice(i, i + 16);
    for (let j = window.length - 1; j > 0; j--) {
      const k = Math.floor(rand() * (j + 1));
      [window[j], window[k]] = [window[k]!, window[j]!];
    }
    wave1.push(...window);
  }
  // Held back, then sent newest first: older and older events arrive after newer ones.
  wave2.push(...events.filter((e) => e.late).reverse());
  for (const wave of [wave1, wave2]) {
    for (const e of [...wave].filter((x) => x.duplicated)) {
      const at = Math.min(wave.length, wave.indexOf(e) + 1 + Math.floor(rand() * 200));
      wave.splice(at, 0, e);
    }
  }
  return { config, connections, customers, ghosts, cursed, events, wave1, wave2 };
}

function invalidEvent(
  id: string,
  time: string,
  customer: string,
  rand: () => number,
): { body: string; detailType: string; expect: Expect } {
  const kinds = ['not-json', 'unknown-type', 'schema', 'wrong-types', 'bad-id', 'not-object'] as const;
  const kind = kinds[Math.floor(rand() * kinds.length)]!;
  const env = (detailType: string, detail: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id, source: 'app.billing', 'detail-type': detailType, time, detail, ...extra });
  switch (kind) {
    case 'not-json':
      return { body: `{"id": "${id}", "source": "app.billing", truncated`, detailType: 'n/a', expect: { kind: 'invalid', reason: kind } };
    case 'unknown-type':
      return {
        body: env('customer.deleted', { customerId: customer }),
        detailType: 'customer.deleted',
        expect: { kind: 'invalid', reason: kind },
      };
    case 'schema':
      return {
        body: env('customer.seats_changed', { customerId: customer, seats: 'ten', changedAt: time }),
        detailType: 'customer.seats_changed',
        expect: { kind: 'invalid', reason: kind },
      };
    case 'wrong-types':
      return {
        body: env('customer.plan_changed', { customerId: 42, plan: ['pro'], changedAt: 7 }, { time: 12 }),
        detailType: 'customer.plan_changed',
        expect: { kind: 'invalid', reason: kind },
      };
    case 'bad-id':
      return {
        body: env('customer.status_changed', { customerId: `${customer}\r\n../x`, status: 'active', changedAt: time }),
        detailType: 'customer.status_changed',
        expect: { kind: 'invalid', reason: kind },
      };
    case 'not-object':
      return { body: JSON.stringify([id, 'customer.plan_changed']), detailType: 'n/a', expect: { kind: 'invalid', reason: kind } };
  }
}
