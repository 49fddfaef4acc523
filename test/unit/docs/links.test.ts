/**
 * The docs point at things that exist: relative links resolve, repository paths named in code spans
 * exist, and the README's event table lists exactly the catalog's event types.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalog } from '#events/catalog';

const root = new URL('../../../', import.meta.url);
const DOCS = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'docs/design.md', 'docs/operations.md', 'docs/dlq.md'];
const read = (f: string) => readFileSync(new URL(f, root), 'utf8');
/** Named before they exist: the bench writes its results, and the performance page is written from a bench run. */
const NOT_YET = new Set(['bench/results/', 'bench/PERFORMANCE.md']);
const exists = (fromDoc: string, target: string) => existsSync(new URL(target, new URL(fromDoc, root)));

/** `a/{b,c}.ts` -> `a/b.ts`, `a/c.ts` (one brace group, as the docs write them). */
function expandBraces(p: string): string[] {
  const m = /^(.*)\{([^}]*)\}(.*)$/.exec(p);
  return m ? m[2]!.split(',').map((alt) => `${m[1]}${alt}${m[3]}`) : [p];
}

/** Code spans that name a file or folder of this repository. */
function repoPaths(markdown: string): string[] {
  const spans = [...markdown.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  return spans
    .filter((s) => /^(events|functions|infra|local|cli|bench|test|docs)\/[\w./{},-]*$/.test(s) && !s.includes('<'))
    .flatMap(expandBraces)
    .filter((p) => !p.includes('*'));
}

function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!.split('#')[0]!).filter((l) => l && !/^[a-z]+:/.test(l));
}

describe('docs', () => {
  it('finds paths and links the way the docs write them', () => {
    expect(expandBraces('functions/commons/domain/{subject,order}.ts')).toEqual([
      'functions/commons/domain/subject.ts',
      'functions/commons/domain/order.ts',
    ]);
    expect(repoPaths('see `events/catalog.ts`, `events/samples/*.json`, `S#<subject>` and `functions/<name>.ts`')).toEqual([
      'events/catalog.ts',
    ]);
    expect(relativeLinks('[a](docs/dlq.md) [b](https://x.dev) [c](design.md#the-picture)')).toEqual(['docs/dlq.md', 'design.md']);
    expect(exists('docs/dlq.md', 'nowhere.md')).toBe(false);
  });

  for (const doc of DOCS) {
    it(`${doc}: every relative link and named repository path exists`, () => {
      const text = read(doc);
      const missing = [
        ...relativeLinks(text).filter((l) => !exists(doc, l)),
        ...repoPaths(text).filter((p) => !NOT_YET.has(p) && !existsSync(new URL(p.replace(/\/$/, ''), root))),
      ];
      expect(missing).toEqual([]);
    });
  }

  it("README's event table lists exactly the catalog's event types, with their sources", () => {
    const rows = read('README.md')
      .split('\n')
      .filter((l) => /^\| `customer\.|^\| `[a-z]+\.[a-z_]+` +\| `[a-z.]+`/.test(l))
      .map((l) => l.split('|').map((c) => c.trim().replace(/`/g, '')))
      .map((c) => `${c[2]} ${c[1]}`)
      .sort();
    expect(rows).toEqual(catalog.map((d) => `${d.source} ${d.detailType}`).sort());
  });
});
