/**
 * Coalescing: one PATCH of coalesce(p1..pn) leaves the same metadata as PATCHing p1..pn one by one.
 * Checked against a model of Nango's shallow merge (many runs), then over HTTP against the Nango
 * stand-in through the real client on both endpoints (fewer runs: each is real requests).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coalesce } from '#commons/coalesce';
import { HttpNangoClient } from '#commons/nango/http-client';
import { staticKeyProvider } from '#commons/secrets';
import type { MetadataPatch } from '#events/define';
import { startNangoStandin, type NangoStandin } from '../../local/standins/nango.ts';
import { canonical, patchArb, prototypeSnapshot, shallowMerge } from './arbitraries.ts';

const startState = fc.option(patchArb, { nil: null });

describe('coalescing (model)', () => {
  it('equals applying the patches one by one, for any patches and any prior state', () => {
    const proto = prototypeSnapshot();
    fc.assert(
      fc.property(startState, fc.array(patchArb, { minLength: 1, maxLength: 8 }), (before, patches) => {
        const oneByOne = patches.reduce<Record<string, unknown> | null>((s, p) => shallowMerge(s, p), before);
        const once = shallowMerge(before, coalesce(patches));
        expect(canonical(once)).toBe(canonical(oneByOne));
        // Spread keeps `__proto__` an own key: the result's prototype is untouched.
        expect(Object.getPrototypeOf(once)).toBe(Object.prototype);
      }),
      { numRuns: 1000 },
    );
    expect(prototypeSnapshot()).toEqual(proto);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('is associative: coalescing in chunks equals coalescing at once', () => {
    fc.assert(
      fc.property(fc.array(patchArb, { maxLength: 8 }), fc.nat(8), (patches, cut) => {
        const c = Math.min(cut, patches.length);
        expect(canonical(coalesce([coalesce(patches.slice(0, c)), coalesce(patches.slice(c))]))).toBe(canonical(coalesce(patches)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('coalescing (Nango stand-in over HTTP)', () => {
  const KEY = randomUUID();
  let nango: NangoStandin;
  const clients: HttpNangoClient[] = [];
  beforeAll(async () => {
    nango = await startNangoStandin({ secretKey: KEY });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await nango.close();
  });

  for (const endpoint of ['current', 'legacy'] as const) {
    it(`one coalesced PATCH leaves what the PATCHes one by one leave (${endpoint})`, async () => {
      const client = new HttpNangoClient({ host: nango.url, endpoint, keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
      clients.push(client);
      const proto = prototypeSnapshot();
      let run = 0;
      await fc.assert(
        fc.asyncProperty(startState, fc.array(patchArb, { minLength: 1, maxLength: 5 }), async (before, patches) => {
          run++;
          const a = { connectionId: `one-by-one-${endpoint}-${run}`, providerConfigKey: 'salesforce' };
          const b = { connectionId: `coalesced-${endpoint}-${run}`, providerConfigKey: 'salesforce' };
          nango.addConnection({ ...a, metadata: before });
          nango.addConnection({ ...b, metadata: before });
          const call = { deadline: Date.now() + 10_000 };
          for (const p of patches) await client.patchMetadata(a, p, call);
          await client.patchMetadata(b, coalesce(patches as MetadataPatch[]), call);
          expect(canonical(nango.metadataOf(b.connectionId, b.providerConfigKey))).toBe(
            canonical(nango.metadataOf(a.connectionId, a.providerConfigKey)),
          );
        }),
        { numRuns: 40 },
      );
      expect(prototypeSnapshot()).toEqual(proto);
    });
  }
});
