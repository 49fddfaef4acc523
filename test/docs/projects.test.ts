/**
 * Every test file belongs to exactly one named project, and each project has its npm script, so
 * `npm run test:<project>` runs what its name says and `npm test` runs each file once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROJECTS } from '../../vitest.config.ts';

const root = new URL('../../', import.meta.url);
const testFiles = (readdirSync(new URL('test/', root), { recursive: true }) as string[])
  .map((f) => `test/${f.split('\\').join('/')}`)
  .filter((f) => f.endsWith('.test.ts'))
  .sort();

/** The project globs are folders (`test/x/**`) or single files: a prefix or an exact match. */
const matches = (glob: string, file: string) => (glob.endsWith('/**') ? file.startsWith(glob.slice(0, -2)) : file === glob);
const projectsOf = (file: string) =>
  Object.entries(PROJECTS)
    .filter(([, globs]) => globs.some((g) => matches(g, file)))
    .map(([name]) => name);

describe('test projects', () => {
  it('finds the test files', () => {
    expect(testFiles).toContain('test/docs/projects.test.ts');
    expect(projectsOf('test/docs/projects.test.ts')).toEqual(['unit']);
    expect(projectsOf('test/local-pipeline.test.ts')).toEqual(['pipeline']);
    expect(projectsOf('test/nowhere/x.test.ts')).toEqual([]);
  });

  it('puts every test file in exactly one project (add a new folder to PROJECTS in vitest.config.ts)', () => {
    const wrong = testFiles.map((f) => ({ f, in: projectsOf(f) })).filter((x) => x.in.length !== 1);
    expect(wrong).toEqual([]);
  });

  it('has an npm script per project, and `npm test` still typechecks and runs them all', () => {
    const scripts = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of Object.keys(PROJECTS)) expect(scripts[`test:${name}`]).toBe(`vitest run --project ${name}`);
    expect(scripts.test).toBe('tsc -p tsconfig.json && vitest run');
  });

  it("CONTRIBUTING.md's table names each project's folders and command", () => {
    const rows = readFileSync(new URL('CONTRIBUTING.md', root), 'utf8')
      .split('\n')
      .filter((l) => /^\| (unit|contract|infra|pipeline|chaos|other) \|/.test(l))
      .map((l) => l.split('|').map((c) => c.trim()));
    const documented = Object.fromEntries(
      rows.map((c) => [c[1], { globs: [...c[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!), command: c[3]! }]),
    );
    for (const [name, globs] of Object.entries(PROJECTS)) {
      expect(documented[name]?.globs, name).toEqual(globs.map((g) => g.replace(/\/\*\*$/, '')));
      expect(documented[name]?.command, name).toContain(`npm run test:${name}`);
    }
    expect(Object.keys(documented).sort()).toEqual(Object.keys(PROJECTS).sort());
  });
});
