/** The rule pattern is derived from the catalog: change the catalog and the rule changes with it. */
import { describe, expect, it } from 'vitest';
import { type Catalog, catalog } from '../../events/catalog.ts';
import { catalogEventPattern, patternPairs } from '../../infra/event-pattern.ts';
import { CATALOG_IMPORTS, SAMPLE_CATALOG, synthConstruct, tagEventSource, writeCatalogModule } from './helpers.ts';

/** Only source and detail-type matter to the pattern; the rest of an entry is the catalog's business. */
const event = (source: string, detailType: string) => ({ source, detailType }) as unknown as Catalog[number];

/** The rule of a construct given the catalog module at `path`. */
const rulePattern = (path: string) => {
  const { template } = synthConstruct({ catalog: { path }, reconcile: { schedule: false, indexSweep: false } });
  const rules = Object.values(template.findResources('AWS::Events::Rule')) as any[];
  expect(rules).toHaveLength(1);
  return rules[0].Properties.EventPattern;
};

describe('catalogEventPattern', () => {
  it('one source: a plain pattern, detail-types sorted', () => {
    expect(catalogEventPattern([event('app.billing', 'z.changed'), event('app.billing', 'a.changed')])).toEqual({
      source: ['app.billing'],
      'detail-type': ['a.changed', 'z.changed'],
    });
  });

  it('several sources: one $or branch per source, so pairs are exact', () => {
    const pattern = catalogEventPattern([event('b.src', 'x'), event('a.src', 'y'), event('b.src', 'w')]);
    expect(pattern).toEqual({
      $or: [
        { source: ['a.src'], 'detail-type': ['y'] },
        { source: ['b.src'], 'detail-type': ['w', 'x'] },
      ],
    });
    // a.src/x is not in the catalog and must not match.
    expect(patternPairs(pattern)).toEqual(['a.src y', 'b.src w', 'b.src x']);
  });

  it('refuses an empty catalog and duplicate pairs', () => {
    expect(() => catalogEventPattern([])).toThrow(/empty/);
    expect(() => catalogEventPattern([event('a', 'x'), event('a', 'x')])).toThrow(/duplicate event type a \/ x/);
  });

  it('does not depend on the order of catalog modules', () => {
    expect(catalogEventPattern([...catalog].reverse())).toEqual(catalogEventPattern(catalog));
  });
});

describe('the construct follows the catalog module it is given', () => {
  it('adding an event type to the module adds exactly its pair to the rule', () => {
    const before = patternPairs(catalogEventPattern(catalog));
    expect(before).toEqual(catalog.map((e) => `${e.source} ${e.detailType}`).sort());
    expect(patternPairs(rulePattern(SAMPLE_CATALOG.path))).toEqual(before);
    const module = writeCatalogModule(
      `${CATALOG_IMPORTS}import { catalog as samples } from ${JSON.stringify(SAMPLE_CATALOG.path)};\n` +
        `export const catalog = [...samples, ${tagEventSource('app.crm', 'account.owner_changed')}];\n`,
    );
    const after = patternPairs(rulePattern(module));
    expect(after.filter((p) => !before.includes(p))).toEqual(['app.crm account.owner_changed']);
    expect(before.filter((p) => !after.includes(p))).toEqual([]);
  });

  it('a one-source catalog gives a plain pattern', () => {
    const module = writeCatalogModule(`${CATALOG_IMPORTS}export const catalog = [${tagEventSource('app.only', 'thing.happened')}];\n`);
    expect(rulePattern(module)).toEqual({ source: ['app.only'], 'detail-type': ['thing.happened'] });
  });
});
