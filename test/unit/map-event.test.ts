import { describe, expect, it } from 'vitest';
import { catalog, eventPattern, indexCatalog } from '#events/catalog';
import { defineEvent } from '#events/define';
import { mapEvent } from '#commons/route/map-event';
import { inEventTimeOrder } from '#commons/event-time';
import { parseEventBody } from '#commons/event-envelope';
import { z } from 'zod';

const index = indexCatalog(catalog);
const ev = (detailType: string, detail: unknown, source = 'app.billing') => ({
  id: 'e1',
  source,
  detailType,
  time: '2026-11-20T09:00:00.000Z',
  detail,
});

describe('mapEvent', () => {
  it('maps a valid plan change to its static targets and patch', () => {
    const m = mapEvent(ev('customer.plan_changed', { customerId: 'acme', plan: 'pro', changedAt: '2026-11-20T09:00:00Z' }), index);
    expect(m).toMatchObject({
      ok: true,
      specs: [{ connectionId: 'acme', integrations: ['salesforce', 'hubspot'] }],
      patch: { plan: 'pro', planChangedAt: '2026-11-20T09:00:00Z' },
    });
  });

  it('rejects an unknown detail-type with a code naming it', () => {
    const m = mapEvent(ev('customer.deleted', {}), index);
    expect(m).toMatchObject({ ok: false, code: 'unknown_event_type' });
    if (!m.ok) expect(m.message).toContain('customer.deleted');
  });

  it('rejects a schema error and lists the failing paths', () => {
    const m = mapEvent(ev('customer.plan_changed', { customerId: 'acme', plan: 'platinum', changedAt: 'yesterday' }), index);
    expect(m.ok).toBe(false);
    if (!m.ok) {
      expect(m.code).toBe('invalid_detail');
      expect((m.errors as { path: string[] }[]).map((e) => e.path.join('.')).sort()).toEqual(['changedAt', 'plan']);
    }
  });

  it('rejects connection ids Nango would refuse (newline, over 255 chars)', () => {
    for (const customerId of ['a\nb', 'x'.repeat(256), '']) {
      expect(mapEvent(ev('customer.plan_changed', { customerId, plan: 'pro', changedAt: '2026-11-20T09:00:00Z' }), index)).toMatchObject({
        ok: false,
        code: 'invalid_detail',
      });
    }
  });

  it('reports a throwing or non-JSON mapping as mapping_error, not a crash', () => {
    const bad = defineEvent({
      source: 'app.x',
      detailType: 'x.y',
      description: 'test',
      detail: z.object({ n: z.number() }),
      targets: () => {
        throw new Error('boom');
      },
      patch: () => ({}),
    });
    const m = mapEvent({ ...ev('x.y', { n: 1 }, 'app.x') }, indexCatalog([bad]));
    expect(m).toMatchObject({ ok: false, code: 'mapping_error' });
  });
});

describe('event envelope', () => {
  it('falls back to the SQS message id and SentTimestamp', () => {
    const r = parseEventBody(JSON.stringify({ source: 'a', 'detail-type': 'b', detail: {} }), {
      messageId: 'm-1',
      sentTimestamp: '1763629200000',
    });
    expect(r).toMatchObject({ ok: true, event: { id: 'm-1', time: new Date(1763629200000).toISOString() } });
  });

  it('refuses non-JSON and over-large bodies with clear codes', () => {
    expect(parseEventBody('not json', { messageId: 'm' })).toMatchObject({ ok: false, code: 'invalid_json' });
    expect(parseEventBody('x'.repeat(300 * 1024), { messageId: 'm' })).toMatchObject({ ok: false, code: 'event_too_large' });
    expect(parseEventBody('[]', { messageId: 'm' })).toMatchObject({ ok: false, code: 'invalid_envelope' });
  });
});

describe('ordering and catalog', () => {
  it('sorts by event time, stable on ties', () => {
    const items = [
      { index: 0, event: { ...ev('a', {}), time: '2026-01-02T00:00:00.000Z' } },
      { index: 1, event: { ...ev('a', {}), time: '2026-01-01T00:00:00.000Z' } },
      { index: 2, event: { ...ev('a', {}), time: '2026-01-02T00:00:00.000Z' } },
    ];
    expect(inEventTimeOrder(items).map((i) => i.index)).toEqual([1, 0, 2]);
  });

  it('derives the rule pattern from the catalog', () => {
    expect(eventPattern()).toEqual({
      source: ['app.accounts', 'app.billing'],
      detailType: ['customer.plan_changed', 'customer.seats_changed', 'customer.settings_changed', 'customer.status_changed'],
    });
  });

  it('refuses duplicate event types', () => {
    expect(() => indexCatalog([catalog[0]!, catalog[0]!])).toThrow(/duplicate event type/);
  });
});
