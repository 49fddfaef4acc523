/**
 * docs/operations.md lists every deployment setting the CDK app reads (`CONTEXT_KEYS`, which
 * infra/config.ts reads and exports as `SETTINGS`), and nothing it no longer reads. The keys come
 * from infra/context-keys.ts, which loads no aws-cdk-lib.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS } from '../../../infra/context-keys.ts';

const root = new URL('../../../', import.meta.url);
const read = (f: string) => readFileSync(new URL(f, root), 'utf8');

/** Backticked names in the first column of the table under "### Deployment settings". */
function documentedKeys(markdown: string): string[] {
  const section = markdown.split('### Deployment settings')[1]?.split(/\n#{2,3} /)[0] ?? '';
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`([a-zA-Z]+)`/g)].map((m) => m[1]!));
}

describe('deployment settings in docs/operations.md', () => {
  it('reads the documented keys', () => {
    expect(documentedKeys('### Deployment settings\n\n| key | m |\n| --- | --- |\n| `a`, `b` | `c` |\n\n## Next\n| `d` | |')).toEqual([
      'a',
      'b',
    ]);
  });

  it('lists exactly the keys infra/config.ts reads', () => {
    const inApp = Object.keys(CONTEXT_KEYS).sort();
    expect(inApp.length).toBeGreaterThan(10);
    expect(documentedKeys(read('docs/operations.md')).sort()).toEqual(inApp);
  });
});
