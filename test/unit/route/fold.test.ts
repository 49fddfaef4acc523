/**
 * Route's fold of a batch: events writing the same keys of one subject (one event type, one scope)
 * become one conditional put of the newest, as writing them one after another would leave it.
 */
import { describe, expect, it } from 'vitest';
import { catalog } from '#events/catalog';
import { indexCatalog } from '#events/define';
import type { DomainEvent } from '#commons/event-envelope';
import { mapEvent } from '#commons/route/map-event';
import { foldBatch } from '#commons/route/processor';

const index = indexCatalog(catalog);
const limits = { maxIntegrationsPerEvent: 50, maxFutureSkewMs: 300_000, now: Date.parse('2026-12-01T00:00:00Z') };

function item(id: string, detailType: string, detail: Record<string, unknown>, time: string) {
  detail = { organizationId: detail.customerId, ...detail, changedAt: time };
  delete detail.customerId;
  const event = { id, source: 'app.billing', detailType, time, detail } as unknown as DomainEvent;
  const mapped = mapEvent(event, index, limits);
  if (!mapped.ok) throw new Error(`${id}: ${mapped.code} ${mapped.message}`);
  return { item: { record: {} as never, body: '', event }, mapped };
}

describe('foldBatch', () => {
  it('keeps the newest event per subject and key group, whatever the arrival order', () => {
    const a = item('a', 'customer.plan_changed', { customerId: 'acme', plan: 'free' }, '2026-11-30T10:00:00Z');
    const b = item('b', 'customer.plan_changed', { customerId: 'acme', plan: 'pro' }, '2026-11-30T10:00:02Z');
    const c = item('c', 'customer.plan_changed', { customerId: 'acme', plan: 'starter' }, '2026-11-30T10:00:01Z');
    const { winners, superseded } = foldBatch([a, b, c]);
    expect(winners.map((w) => w.item.event.id)).toEqual(['b']);
    expect(
      superseded
        .get(b.item)
        ?.map((f) => f.item.event.id)
        .sort(),
    ).toEqual(['a', 'c']);
  });

  it('does not fold other subjects or other key groups', () => {
    const a = item('a', 'customer.plan_changed', { customerId: 'acme', plan: 'free' }, '2026-11-30T10:00:00Z');
    const other = item('o', 'customer.plan_changed', { customerId: 'globex', plan: 'pro' }, '2026-11-30T10:00:02Z');
    const seats = item('s', 'customer.seats_changed', { customerId: 'acme', seats: 3 }, '2026-11-30T10:00:03Z');
    const { winners, superseded } = foldBatch([a, other, seats]);
    expect(winners.map((w) => w.item.event.id).sort()).toEqual(['a', 'o', 's']);
    expect(superseded.size).toBe(0);
  });

  it('one event delivered twice in a batch is written once', () => {
    const a = item('a', 'customer.plan_changed', { customerId: 'acme', plan: 'free' }, '2026-11-30T10:00:00Z');
    const again = item('a', 'customer.plan_changed', { customerId: 'acme', plan: 'free' }, '2026-11-30T10:00:00Z');
    const { winners, superseded } = foldBatch([a, again]);
    expect(winners).toHaveLength(1);
    expect([...superseded.values()].flat()).toHaveLength(1);
  });
});
