/** The rule pattern is derived from the catalog: change the catalog and the rule changes with it. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { catalog } from '../../events/catalog.ts';
import { defineEvent } from '../../events/define.ts';
import { catalogEventPattern, patternPairs } from '../../infra/event-pattern.ts';
import { synthConstruct } from './helpers.ts';

const event = (source: string, detailType: string) =>
  defineEvent({ source, detailType, description: 'test', detail: z.object({}), targets: () => [], patch: () => ({}) });

const rulePattern = (entries: Parameters<typeof catalogEventPattern>[0]) => {
  const rules = Object.values(synthConstruct({ catalog: entries }).template.findResources('AWS::Events::Rule')) as any[];
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

describe('the construct follows the catalog it is given', () => {
  it('the real catalog by default', () => {
    expect(patternPairs(rulePattern(catalog))).toEqual(catalog.map((e) => `${e.source} ${e.detailType}`).sort());
  });

  it('adding an event type adds exactly its pair to the rule', () => {
    const before = patternPairs(rulePattern(catalog));
    const after = patternPairs(rulePattern([...catalog, event('app.crm', 'account.owner_changed')]));
    expect(after.filter((p) => !before.includes(p))).toEqual(['app.crm account.owner_changed']);
    expect(before.filter((p) => !after.includes(p))).toEqual([]);
  });

  it('a one-source catalog gives a plain pattern', () => {
    expect(rulePattern([event('app.only', 'thing.happened')])).toEqual({ source: ['app.only'], 'detail-type': ['thing.happened'] });
  });
});
