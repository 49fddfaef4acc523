/**
 * docs/operations.md lists every deployment setting the CDK app reads (`SETTINGS` in infra/config.ts),
 * and nothing it no longer reads. The keys are read from the source text: importing the module would
 * load aws-cdk-lib, seconds of work for a list of names.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);
const read = (f: string) => readFileSync(new URL(f, root), 'utf8');

function appSettingKeys(source: string): string[] {
  const block = /export const SETTINGS = \{([\s\S]*?)\n\} as const;/.exec(source)?.[1];
  if (!block) throw new Error('infra/config.ts: no `export const SETTINGS = { ... } as const;` block');
  return [...block.matchAll(/^ {2}([a-zA-Z]+):/gm)].map((m) => m[1]!);
}

/** Backticked names in the first column of the table under "### Deployment settings". */
function documentedKeys(markdown: string): string[] {
  const section = markdown.split('### Deployment settings')[1]?.split(/\n#{2,3} /)[0] ?? '';
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`([a-zA-Z]+)`/g)].map((m) => m[1]!));
}

describe('deployment settings in docs/operations.md', () => {
  it('reads the keys from both sides', () => {
    expect(appSettingKeys("export const SETTINGS = {\n  stage: 'x',\n  nangoHost: 'y: z',\n} as const;")).toEqual(['stage', 'nangoHost']);
    expect(documentedKeys('### Deployment settings\n\n| key | m |\n| --- | --- |\n| `a`, `b` | `c` |\n\n## Next\n| `d` | |')).toEqual([
      'a',
      'b',
    ]);
  });

  it('lists exactly the keys infra/config.ts reads', () => {
    const inApp = appSettingKeys(read('infra/config.ts')).sort();
    expect(inApp.length).toBeGreaterThan(10);
    expect(documentedKeys(read('docs/operations.md')).sort()).toEqual(inApp);
  });
});
