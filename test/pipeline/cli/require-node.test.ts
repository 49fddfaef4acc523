/**
 * The CLIs' first import: on a Node older than `engines`, one line naming the Node to install and
 * exit 1, not a stack trace from a module that needs a newer Node. The old Node is simulated by
 * overriding process.versions before the guard runs.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const guard = fileURLToPath(new URL('../../../cli/require-node.mjs', import.meta.url));
const asNode = (version: string) =>
  spawnSync(
    process.execPath,
    [
      '--import',
      `data:text/javascript,Object.defineProperty(process,'versions',{value:{...process.versions,node:'${version}'}})`,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(`file://${guard}`)}); console.log('ran');`,
    ],
    { encoding: 'utf8' },
  );

describe('require-node', () => {
  it.each(['20.20.2', '22.18.0', '18.0.0'])('Node %s: one line on stderr, exit 1, nothing after it runs', (version) => {
    const r = asNode(version);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`needs Node 22.19 or later (24 is what CI and Lambda run); this is Node ${version}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it.each(['22.19.0', '24.0.0', '26.1.0'])('Node %s: silent, and the CLI goes on', (version) => {
    const r = asNode(version);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('ran');
    expect(r.status).toBe(0);
  });
});
