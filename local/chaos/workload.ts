/**
 * A seeded chaos workload for the state model: a world of customers (named by the `organization_id`
 * tag) with several connections each (random UUID ids, several integrations, sometimes two
 * connections of one integration), some connections addressed by a readable id (the connection-id
 * subjects), and a timeline of events over the catalog's types. Some connections exist from the
 * start, some are created mid-run, some only after every event of theirs. Send order: local
 * shuffles, same-second pairs sent newest first, older events held back and sent after newer ones,
 * duplicates, invalid bodies, an event timed in the future. Same seed, same workload.
 */
import { catalog } from '#events/catalog';
import type { EventDefinition } from '#events/define';
import type { SeedConnection } from '../standins/nango.ts';
import { mulberry32 } from '../standins/nango/faults.ts';
import { invalidEvent } from './invalid.ts';

export interface WorkloadConfig {
  seed: number;
  /** Timeline slots (a same-second pair fills one slot with two events; duplicates come on top). */
  events: number;
  customers: number;
  invalidShare: number;
  /** Share of events about customers that never get a connection. */
  ghostShare: number;
  duplicateShare: number;
  /** Share of slots that hold a same-second pair of one type for one customer. */
  pairShare: number;
  /** Share of customers whose older events are held back and sent after everything else. */
  lateCustomerShare: number;
  /** Share of customers whose connections are all created mid-run (Connect UI), announced by a webhook. */
  midRunShare: number;
  /** Share of customers whose connections appear only after all their events were routed. */
  afterShare: number;
  /** Customers (one connection each) whose every PATCH fails: their syncs must reach the sync DLQ. */
  cursedCustomers: number;
  cursedEvents: number;
}

/** When a connection exists: from the start, once route has taken this share of the events, or at the end. */
export type Appears = { at: 'start' } | { at: 'share'; share: number } | { at: 'end' };

export interface WorldConnection extends SeedConnection {
  tags: Record<string, string>;
  appears: Appears;
  cursed: boolean;
}

export type Expect =
  | { kind: 'invalid'; reason: string }
  | {
      kind: 'valid';
      /** `tags:<org>` or `connection:<id>` (the oracle's own names, not the functions'). */
      subject: string;
      integrations: readonly string[] | 'all';
      patch: Record<string, unknown>;
      version: number;
    };

export interface WorkloadEvent {
  index: number;
  id: string;
  body: string;
  detailType: string;
  expect: Expect;
  late: boolean;
  duplicated: boolean;
  pair: boolean;
}

export interface Workload {
  config: WorkloadConfig;
  connections: WorldConnection[];
  customers: string[];
  ghosts: string[];
  events: WorkloadEvent[];
  wave1: WorkloadEvent[];
  wave2: WorkloadEvent[];
}

const PLANS = ['free', 'starter', 'pro', 'enterprise'] as const;
const STATUSES = ['active', 'suspended', 'churned'] as const;
const REGIONS = ['us', 'eu', 'ap'] as const;
const BASE_TIME = Date.parse('2026-01-01T00:00:00.000Z');

const byType = (t: string): EventDefinition => {
  const d = catalog.find((e) => e.detailType === t);
  if (!d) throw new Error(`workload: catalog has no ${t}`);
  return d;
};

/** Organisation ids with characters tags allow and URLs mangle, so the tag filter's encoding is exercised. */
function orgId(i: number, r: number): string {
  const n = String(i).padStart(4, '0');
  return r < 0.1 ? `acme/eu ${n}@example.com` : r < 0.15 ? `{team:${n}} "q" $x|y&z=1` : `org-${n}`;
}

export function buildWorkload(config: WorkloadConfig): Workload {
  const rand = mulberry32(config.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number) => rand() < p;
  const uuid = () => {
    const h = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16));
    h[12] = '4';
    h[16] = '89ab'[Math.floor(rand() * 4)]!;
    const s = h.join('');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  };

  const customers: string[] = [];
  const connections: WorldConnection[] = [];
  /** Readable connection ids (the connection-id subjects) and the integrations their settings name, fixed per id. */
  const idSubjects = new Map<string, { org: string; integrations: string[] | undefined }>();
  const uuidsOf = new Map<string, string[]>();
  for (let i = 0; i < config.customers; i++) {
    const org = orgId(i, rand());
    customers.push(org);
    const r = rand();
    const appears: Appears =
      r < config.midRunShare
        ? { at: 'share', share: 0.1 + rand() * 0.7 }
        : r < config.midRunShare + config.afterShare
          ? { at: 'end' }
          : { at: 'start' };
    const k = rand();
    const ints = k < 0.2 ? ['salesforce'] : k < 0.85 ? ['salesforce', 'hubspot'] : ['salesforce', 'hubspot', 'zendesk'];
    if (chance(0.15)) ints.push('salesforce');
    const readable = chance(0.15) ? `cust-${String(i).padStart(4, '0')}${chance(0.4) ? ' /eu@x.com' : ''}` : undefined;
    if (readable)
      idSubjects.set(readable, { org, integrations: chance(0.5) ? undefined : chance(0.5) ? ['salesforce'] : ['salesforce', 'zendesk'] });
    const seen = new Set<string>();
    for (const pck of ints) {
      const connectionId = readable && !seen.has(pck) ? readable : uuid();
      seen.add(pck);
      if (connectionId !== readable) uuidsOf.set(org, [...(uuidsOf.get(org) ?? []), connectionId]);
      // Some connections start with metadata the events never touch: it must survive every PATCH.
      const metadata = chance(0.5) ? { tenant: `t-${i}`, plan: 'free' } : chance(0.5) ? {} : null;
      // A customer seen from the start sometimes adds an integration mid-run.
      const own: Appears = appears.at === 'start' && seen.size > 1 && chance(0.1) ? { at: 'share', share: 0.2 + rand() * 0.6 } : appears;
      connections.push({
        connectionId,
        providerConfigKey: pck,
        provider: pck,
        metadata,
        tags: { organization_id: org },
        appears: own,
        cursed: false,
      });
    }
  }
  const cursed = Array.from({ length: config.cursedCustomers }, (_, i) => `cursed-${i}`);
  for (const org of cursed) {
    const connectionId = uuid();
    uuidsOf.set(org, [connectionId]);
    connections.push({
      connectionId,
      providerConfigKey: 'salesforce',
      metadata: null,
      tags: { organization_id: org },
      appears: { at: 'start' },
      cursed: true,
    });
  }
  // Early in the timeline, so their receives overlap the rest of the run.
  const cursedAt = new Map<number, string>();
  cursed.forEach((org, c) => {
    for (let j = 0; j < config.cursedEvents; j++) cursedAt.set(5 + c * 7 + j * 3, org);
  });
  const ghosts = Array.from({ length: Math.max(1, Math.round(config.customers * 0.05)) }, (_, i) => `ghost-${String(i).padStart(3, '0')}`);
  const late = new Set(customers.filter(() => chance(config.lateCustomerShare)));
  const readableIds = [...idSubjects.keys()];

  const events: WorkloadEvent[] = [];
  const make = (index: number, suffix: string, ms: number, type: string, detail: Record<string, unknown>, timeMs = ms): WorkloadEvent => {
    const def = byType(type);
    const id = `evt-${config.seed}-${String(index).padStart(6, '0')}-${suffix}`;
    // EventBridge's `time` has 1 s resolution; the declared versions carry the milliseconds.
    const time = new Date(Math.floor(timeMs / 1000) * 1000).toISOString();
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
    const rule = def.subject;
    const subject = rule.by === 'tags' ? `tags:${rule.tags(parsed).organization_id}` : `connection:${rule.connectionId(parsed)}`;
    const integrations = typeof rule.integrations === 'function' ? rule.integrations(parsed) : rule.integrations;
    const version = def.version ? def.version(parsed) : Date.parse(time);
    const expect: Expect = { kind: 'valid', subject, integrations, patch: def.patch(parsed), version };
    return {
      index,
      id,
      body: JSON.stringify(envelope),
      detailType: type,
      expect,
      late: false,
      duplicated: chance(config.duplicateShare),
      pair: false,
    };
  };
  for (let index = 0; index < config.events; index++) {
    const ms = BASE_TIME + index * 1000 + 100 + Math.floor(rand() * 800);
    if (!cursedAt.has(index) && chance(config.invalidShare)) {
      const id = `evt-${config.seed}-${String(index).padStart(6, '0')}-a`;
      events.push({
        index,
        id,
        late: false,
        duplicated: false,
        pair: false,
        ...invalidEvent(id, new Date(ms).toISOString(), pick(customers), rand),
      });
      continue;
    }
    const ghost = !cursedAt.has(index) && chance(config.ghostShare);
    const org = cursedAt.get(index) ?? (ghost ? pick(ghosts) : pick(customers));
    const r = cursedAt.has(index) ? 0.4 : rand();
    const type =
      r < 0.3
        ? 'customer.plan_changed'
        : r < 0.55
          ? 'customer.seats_changed'
          : r < 0.8
            ? 'customer.status_changed'
            : 'customer.settings_changed';
    const detailOf = (t: string, at: number): Record<string, unknown> => {
      const changedAt = new Date(at).toISOString();
      switch (t) {
        case 'customer.plan_changed':
          return { organizationId: org, plan: pick(PLANS), ...(chance(0.5) ? { previousPlan: pick(PLANS) } : {}), changedAt };
        case 'customer.seats_changed':
          return { organizationId: org, seats: Math.floor(rand() * 500), changedAt };
        case 'customer.status_changed':
          return { organizationId: org, status: pick(STATUSES), ...(chance(0.3) ? { reason: `ticket #${index}` } : {}), changedAt };
        default: {
          // A readable id, a UUID connection of the customer, or an id no connection has.
          const id =
            ghost || !readableIds.length
              ? `ghost-conn-${index % 7}`
              : chance(0.6)
                ? pick(readableIds)
                : pick(uuidsOf.get(org) ?? readableIds);
          const fixed = idSubjects.get(id)?.integrations;
          const flags = chance(0.6) ? { beta: chance(0.5), exports: chance(0.5) } : undefined;
          return {
            customerId: id,
            ...(chance(0.7) || !flags ? { region: pick(REGIONS) } : {}),
            ...(flags ? { flags } : {}),
            ...(fixed ? { integrations: fixed } : {}),
            // The producer's sequence: newer slot, larger number (a pair's second event is older).
            sequence: at - BASE_TIME,
          };
        }
      }
    };
    const e = make(index, 'a', ms, type, detailOf(type, ms));
    e.late = !ghost && late.has(org) && index < config.events * 0.6 && chance(0.6);
    if (!cursedAt.has(index) && type !== 'customer.settings_changed' && chance(config.pairShare)) {
      // The same second, an older change with the larger id: only its declared version orders it
      // (status changes declare none: their tie is broken by id).
      const olderMs = ms - 1 - Math.floor(rand() * 99);
      const older = make(index, 'b', olderMs, type, detailOf(type, olderMs), ms);
      e.pair = older.pair = true;
      events.push(e, older);
    } else events.push(e);
  }

  // Send order: time order with local shuffles (retries, several producers), late ones last.
  const wave1: WorkloadEvent[] = [];
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
  const wave2 = events.filter((e) => e.late).reverse();
  for (const wave of [wave1, wave2]) {
    for (const e of wave.filter((x) => x.duplicated)) {
      const at = Math.min(wave.length, wave.indexOf(e) + 1 + Math.floor(rand() * 200));
      wave.splice(at, 0, e);
    }
  }
  return { config, connections, customers, ghosts, events, wave1, wave2 };
}
