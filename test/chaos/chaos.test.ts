/**
 * "Nothing lost", for state: through the real pipeline under faults, duplicates, late events,
 * same-second pairs, connections created mid-run and after their events, a key rotation and two
 * crashes and re-tags through Nango's API (no webhook), every connection ends with the fold of its
 * current subjects' events (or a DLQ message says which keys did not make it and why), once a sweep
 * ran past the last re-tag no connection holds a key only a customer it left sets, apply reads Nango
 * only to look up a seed's or a re-tagged connection by id, no connection is PATCHed more often
 * than it became dirty, Nango never sees two writes to one connection at once, and the key appears
 * nowhere. Prints the invariant table.
 */
import { describe, expect, it } from 'vitest';
import { printAlways } from '../../local/chaos/capture.ts';
import { ciChaos, seedFromEnv } from '../../local/chaos/config.ts';
import { computeInvariants, invariantsHold } from '../../local/chaos/invariants.ts';
import { runChaos } from '../../local/chaos/run.ts';

describe('chaos through the local pipeline', () => {
  it('loses nothing, orders by version, keeps tenancy after re-tags, never overlaps writes, reads only lookups in apply, never leaks the key', {
    // Records parked after their writes take every receive of the ingress queue (its visibility each).
    timeout: 240_000,
  }, async () => {
    const options = ciChaos(seedFromEnv(20_261_127));
    const r = await runChaos(options);
    printAlways(r.table);
    const x = r.report;

    // The scenario really happened as specified.
    expect(x.eventsSent).toBeGreaterThanOrEqual(options.workload.events);
    // Each customer has one to four integrations, drawn by the seed: about 63 connections for 30
    // customers, as few as 58 for some seeds.
    expect(x.connections).toBeGreaterThanOrEqual(options.workload.customers * 1.5);
    expect(x.connectionsCreatedMidRun).toBeGreaterThan(0);
    expect(x.connectionsCreatedAfterTheirEvents).toBeGreaterThan(0);
    expect(x.webhooks.delivered).toBe(x.connectionsCreatedMidRun + x.connectionsCreatedAfterTheirEvents);
    expect(x.syncsByReason.seed).toBeGreaterThan(0);
    expect(x.faultRate).toBeGreaterThanOrEqual(0.25);
    for (const kind of ['rateLimit429', 'status500', 'status502', 'status503', 'reset', 'slow', 'html', 'cursed503']) {
      expect(x.faultsByKind[kind], `no ${kind} fault was injected`).toBeGreaterThan(0);
    }
    expect(x.duplicatesSent).toBeGreaterThan(0);
    expect(x.lateEvents).toBeGreaterThan(0);
    expect(x.sameSecondPairs).toBeGreaterThan(0);
    // Older events really arrived after newer ones: the conditional write dropped their keys.
    expect(Number(x.extra['stale keys dropped at route'])).toBeGreaterThan(0);
    expect(r.rotated, 'the key was never rotated').toBe(true);
    expect(x.unauthorized401, 'the rotation produced no 401: the stale key was never used').toBeGreaterThan(0);
    expect(r.crashed, 'no apply invocation died').toBeDefined();
    expect(x.crashes).toBe(2);
    const syncParked = Object.entries(x.dlqByCode).filter(([k]) => k.startsWith('sync-dlq:') && !k.includes('bare'));
    expect(syncParked.length, 'the cursed connection was never parked with its error').toBeGreaterThan(0);
    expect(x.parkedMismatches).toBeGreaterThan(0);
    expect(x.eventsInRouteDlq).toBeGreaterThanOrEqual(x.invalidEvents);
    expect(x.nangoCalls.route?.get, 'route never listed connections').toBeGreaterThan(0);
    expect(x.nangoCalls.apply?.other, 'apply never wrote').toBeGreaterThan(0);
    // Re-tags through Nango's API (no webhook), a sweep mid-run and one past the last re-tag.
    expect(x.retags).toBe(options.retags!.shares.length);
    expect(x.sweptPastRetags, 'no sweep ran past the last re-tag').toBe(true);
    expect(x.nangoCalls.sweep?.get, 'the sweep never listed connections').toBeGreaterThan(0);
    expect(x.foreignCleared, "no former customer's key was ever sent and cleared").toBeGreaterThan(0);

    // The invariants.
    expect(
      Number(x.extra['events parked after their writes (sync sends refused)']),
      'no route record was parked after its write',
    ).toBeGreaterThan(0);
    expect(x.problems).toEqual([]);
    expect(x.lost).toBe(0);
    expect(x.keysLeftUnsent).toBe(0);
    expect(x.unexpected).toBe(0);
    expect(x.overPatched).toBe(0);
    // Apply reads only a seed's or a re-tagged connection (the list endpoint, one connection id): never anything else.
    expect(x.nangoCalls.apply?.get ?? 0, 'apply GETs other than list calls by connection id').toBe(x.nangoCalls.apply?.lookups ?? 0);
    expect(x.applyReadsBeyondLookups, "apply GETs that look up no seed lookup's or re-tagged connection").toBe(0);
    expect(x.getById).toBe(0);
    expect(x.foreignKeys).toBe(0);
    expect(x.retaggedBehind).toBe(0);
    expect(x.overlaps).toBe(0);
    expect(x.keyLeaks).toBe(0);
    expect(x.legacyVersionKey).toBe(0);
    expect(x.handlerErrors).toBe(0);
    expect(invariantsHold(x)).toBe(true);

    // The checker itself sees a loss: drop the sync DLQ (the parked keys lose their excuse) ...
    const dropped = computeInvariants({ ...r.input, dlq: r.input.dlq.filter((m) => m.queue !== 'sync-dlq') });
    expect(dropped.lost).toBeGreaterThan(0);
    // ... and one key off the fold at one connection.
    const touched = r.input.nango.connections().find((c) => c.metadata && 'seats' in c.metadata)!;
    // The run's input with one connection's metadata changed at the stand-in.
    const withMetadata = (t: { connectionId: string; providerConfigKey: string }, patch: Record<string, unknown>) => ({
      ...r.input,
      nango: {
        ...r.input.nango,
        connections: () =>
          r.input.nango
            .connections()
            .map((c) =>
              c.connectionId === t.connectionId && c.providerConfigKey === t.providerConfigKey
                ? { ...c, metadata: { ...c.metadata, ...patch } }
                : c,
            ),
      },
    });
    const tampered = computeInvariants(withMetadata(touched, { seats: -1 }));
    expect(tampered.lost).toBe(x.lost + 1);
    // ... and desired keys that were synced but are not what Nango holds.
    const desired = Object.entries(r.input.desired ?? {}).map(([s, keys]) => [s, keys.map((k) => ({ ...k, value: '__not sent__' }))]);
    expect(computeInvariants({ ...r.input, desired: Object.fromEntries(desired) }).keysLeftUnsent).toBeGreaterThan(0);
    // ... and a value where a re-tagged connection holds null (a cleared key of its former customer).
    const cleared = r.input.retags!.flatMap((m) => {
      const c = r.input.nango.connections().find((x) => x.connectionId === m.connectionId && x.providerConfigKey === m.providerConfigKey);
      return Object.entries(c?.metadata ?? {})
        .filter(([, v]) => v === null)
        .map(([key]) => ({ m, key }));
    });
    expect(cleared.length).toBeGreaterThan(0);
    const { m, key } = cleared[0]!;
    // (No write counts as sent dead here: the clearing write may have come from one, under load.)
    const leaked = computeInvariants({ ...withMetadata(m, { [key]: 'from the former customer' }), sentDead: () => false });
    expect(leaked.foreignKeys + leaked.lost).toBe(x.foreignKeys + x.foreignByDead + x.lost + 1);
    // ... but not the same key when the write that left it was sent by an invocation already dead
    // (Lambda would have stopped it): counted apart.
    const byDead = computeInvariants({ ...withMetadata(m, { [key]: 'from the former customer' }), sentDead: () => true });
    expect(byDead.foreignByDead).toBeGreaterThan(x.foreignByDead);
    // ... and PATCHes no sync asked for.
    expect(computeInvariants({ ...r.input, syncs: [] }).overPatched).toBeGreaterThan(0);
    // ... unless every invocation that sent them died (their syncs came back): counted apart.
    const redone = computeInvariants({ ...r.input, syncs: [], died: () => true });
    expect(redone.overPatched).toBe(0);
    expect(redone.patchesRedone).toBe(redone.patchesApplied - redone.patchesAbandoned);
  });
});
