/**
 * The README's configuration table says what the code does: every function setting is listed once,
 * with the default the schema applies, the functions that read it and the doc line in `SETTINGS`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '#commons/config';
import { cells, expectedRows, readmeRows, renderTable, tableProblems } from './config-table.ts';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

describe('README configuration table', () => {
  it('lists every setting with its default, readers and doc, and nothing else', () => {
    const problems = tableProblems(readme);
    // The table to paste is printed with the problems: `npx tsx test/unit/docs/config-table.ts` prints it too.
    expect(problems, `${problems.join('\n')}\n\nexpected table:\n${renderTable()}`).toEqual([]);
    expect(readmeRows(readme)).toHaveLength(Object.keys(SETTINGS).length);
  });

  it('notices a missing row, a changed default, a changed doc and a stale row', () => {
    const lines = renderTable().split('\n');
    const doc = (table: string) => `# x\n\n## Configuration\n\nintro\n\n${table}\n\n## Next\n`;
    expect(tableProblems(doc(lines.join('\n')))).toEqual([]);

    const withoutHost = lines.filter((l) => !l.startsWith('| `NANGO_HOST`'));
    expect(tableProblems(doc(withoutHost.join('\n')))).toEqual(['`NANGO_HOST` is missing']);

    const changed = lines.map((l) => (l.startsWith('| `INDEX_TTL_SECONDS`') ? l.replace('`300`', '`60`').replace('trusted', 'kept') : l));
    expect(tableProblems(doc(changed.join('\n')))).toEqual([
      '`INDEX_TTL_SECONDS`: default is "`60`", the code says "`300`"',
      expect.stringMatching(/^`INDEX_TTL_SECONDS`: meaning is "how long a subject's connection index is kept/),
    ]);

    const stale = [...lines, '| `ORDERING` | `event-time` | apply | version 1 only |'];
    expect(tableProblems(doc(stale.join('\n')))).toEqual(['`ORDERING` is in the README but not a setting']);

    expect(tableProblems('# x\n\n## Configuration\n\nno table\n\n## Next\n| a | b |\n')).toHaveLength(1);
  });

  it('reads escaped pipes inside a cell as one cell', () => {
    expect(cells('| `A` | `x\\|y` | route | one \\| two |')).toEqual(['`A`', '`x|y`', 'route', 'one | two']);
    expect(expectedRows().every((r) => r.readBy.length > 0)).toBe(true);
  });
});
