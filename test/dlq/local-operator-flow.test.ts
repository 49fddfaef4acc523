/**
 * Issue 4's "done when", as an operator does it: `npm start -- --keep-running` in one process, the
 * DLQ tool in others. A failing sample (unknown connection) lands in the DLQ, `dlq list` shows it
 * with Nango's code, the connection is created, `dlq replay` applies it and the DLQ is empty.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { spawnCli } from './run-cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const local = spawn(process.execPath, ['--import', 'tsx', 'cli/local.ts', '--keep-running'], {
  cwd: ROOT,
  stdio: ['ignore', 'pipe', 'pipe'],
});
let out = '';
local.stdout!.on('data', (d: Buffer) => (out += d.toString()));
local.stderr!.on('data', () => {});
const exited = new Promise<number | null>((r) => local.on('exit', (code) => r(code)));
afterAll(() => {
  if (local.exitCode === null) local.kill('SIGKILL');
});

async function until(pred: () => boolean, what: string, ms = 30_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; npm start printed:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('list shows the failure with its code; after the fix, replay applies it and empties the DLQ', async () => {
  await until(() => /Changes show up here/.test(out), 'the keep-running banner');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const m of out.matchAll(/^ {2}export (\w+)=(\S+)$/gm)) env[m[1]!] = m[2]!.replace(/^'|'$/g, '');
  expect(env.PATCHES_DLQ_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);

  const list = spawnCli(['list', '--json'], env);
  expect(await list.exited).toBe(0);
  const listed = JSON.parse(list.stdout()) as { matched: number };
  expect(listed.matched).toBe(4);
  const text = JSON.stringify(listed);
  expect(text).toContain('unknown_connection');
  expect(text).toContain('initech');

  // The fix: the connections the failures name now exist.
  for (const m of out.matchAll(/curl -sX POST (\S+) -H 'content-type: application\/json' -d '([^']+)'/g)) {
    const res = await fetch(m[1]!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: m[2]! });
    expect(res.status).toBe(201);
  }
  const patchesBefore = Number(/Nango: (\d+) PATCH requests\n$/.exec(out)?.[1]);

  const replay = spawnCli(['replay', '--stage', 'apply'], env);
  expect(await replay.exited).toBe(0);
  expect(replay.stdout() + replay.stderr()).toMatch(/Replayed 2 of 2 chosen message\(s\): 2 message\(s\) sent/);
  await until(
    () => new RegExp(`patches-dlq 0 \\| Nango: ${patchesBefore + 2} PATCH requests`).test(out),
    'the replayed patches to be applied',
  );

  const after = spawnCli(['list', '--stage', 'apply', '--json'], env);
  expect(await after.exited).toBe(0);
  expect(JSON.parse(after.stdout())).toMatchObject({ matched: 0 });

  local.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(out).toMatch(/Stopping\.\n$/);
});
