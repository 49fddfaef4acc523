/**
 * The generated settings tables are up to date: the README's function settings and docs/operations.md's
 * deployment keys say what the settings table says. `npm run docs:settings` rewrites both.
 */
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '#commons/config';
import { CONTEXT_KEYS, SETTING_KEYS } from '../../../infra/context-keys.ts';
import { BEGIN, END, renderContextTable, staleFiles, withTable } from './settings-docs.ts';

describe('generated settings tables', () => {
  it('README.md and docs/operations.md hold the tables the settings table renders', () => {
    expect(staleFiles(), 'run `npm run docs:settings`').toEqual([]);
  });

  it('replaces only what lies between the markers, and refuses a document without them', () => {
    const doc = `# x\n\nbefore\n\n${BEGIN}\n\n| old |\n\n${END}\n\nafter\n`;
    expect(withTable(doc, '| new |')).toBe(`# x\n\nbefore\n\n${BEGIN}\n\n| new |\n\n${END}\n\nafter\n`);
    expect(withTable(withTable(doc, '| new |'), '| new |')).toBe(withTable(doc, '| new |'));
    expect(() => withTable('# x\n\n| a |\n', '| new |', 'x.md')).toThrow(/^x\.md: no generated-table markers/);
  });

  it('the deployment table has one row per key, escaping pipes', () => {
    expect(renderContextTable({ a: 'one | two', b: 'three' })).toBe(
      '| key | meaning |\n| --- | --- |\n| `a` | one \\| two |\n| `b` | three |',
    );
    const rows = renderContextTable().split('\n').slice(2);
    expect(rows).toHaveLength(Object.keys(CONTEXT_KEYS).length);
  });

  it('every setting with a prop has a unit and a context key, and no two keys collide', () => {
    for (const [name, s] of Object.entries(SETTINGS) as [string, { prop?: string; unit?: string; context?: string }][]) {
      expect([s.prop === undefined, s.unit === undefined, s.context === undefined], name).toEqual(Array(3).fill(s.prop === undefined));
    }
    const keys = SETTING_KEYS.map((k) => k.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(Object.keys(CONTEXT_KEYS)).toHaveLength(new Set(Object.keys(CONTEXT_KEYS)).size);
    expect(SETTING_KEYS.find((k) => k.name === 'APPLY_MAX_DEFER_SECONDS')).toMatchObject({
      key: 'applyMaxDeferSeconds',
      prop: 'apply.maxDefer',
      unit: 'seconds',
    });
  });
});
