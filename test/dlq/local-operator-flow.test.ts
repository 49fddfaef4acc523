/**
 * The DLQ tool as an operator uses it against `npm start -- --keep-running`: the pipeline in one
 * process, the tool in others, configured only by the exports npm start prints. Nango is a stand-in
 * this test runs and controls, given to npm start with --nango-url (as a self-hosted Nango would be):
 * its key first lacks the update scope, so every PATCH gets a 403 and every sync is parked. `dlq
 * list` shows them with Nango's code beside the invalid sample events; the scope is granted; `dlq
 * replay` sends the syncs back; each connection gets its latest state in one PATCH and the sync DLQ
 * empties. Ctrl-C stops npm start cleanly. The key never appears in anything printed.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadSeedConnections } from '../../local/pipeline.ts';
import { startNangoStandin, type NangoStandin } from '../../local/standins/nango.ts';
import { spawnCli } from './run-cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEY = randomUUID();
const ACME_SF = '3b1f6a52-8e0c-4d1e-9f3a-5c2b7d9e1a01';

let nango: NangoStandin;
let refusing = true;
let local: ReturnType<typeof spawn>;
let out = '';
let exited: Promise<number | null>;

beforeAll(async () => {
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: await loadSeedConnections(),
    fault: (r) =>
      refusing && r.method === 'PATCH'
        ? { kind: 'status', status: 403, code: 'forbidden', message: 'missing scope environment:connections:update' }
        : undefined,
  });
  local = spawn(process.execPath, ['--import', 'tsx', 'cli/local.ts', '--keep-running', '--nango-url', nango.url], {
    cwd: ROOT,
    env: { ...process.env, NANGO_SECRET_KEY: KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  local.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  local.stderr!.on('data', () => {});
  exited = new Promise<number | null>((r) => local.on('exit', (code) => r(code)));
});
afterAll(async () => {
  if (local.exitCode === null && local.signalCode === null) local.kill('SIGKILL');
  await nango.close();
});

async function until(pred: () => boolean, what: string, ms = 60_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; npm start printed:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Listed {
  matched: number;
  summary: { byErrorCode: { key: string; count: number }[] };
  items: { stage: string; errorCode: string; status?: number; connectionId?: string; providerConfigKey?: string }[];
}

it('list shows the refused syncs with Nango code; after the fix, replay applies the latest state once per connection', async () => {
  await until(() => /Changes show up here/.test(out), 'the keep-running banner');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const m of out.matchAll(/^ {2}export (\w+)=(\S+)$/gm)) env[m[1]!] = m[2]!.replace(/^'|'$/g, '');
  for (const name of ['SYNC_QUEUE_URL', 'SYNC_DLQ_URL', 'INGRESS_QUEUE_URL', 'INGRESS_DLQ_URL'])
    expect(env[name], name).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
  expect(env.STATE_TABLE_NAME).toBeTruthy();
  expect(env.NANGO_HOST).toBe(nango.url);

  const list = spawnCli(['list', '--json'], env);
  expect(await list.exited).toBe(0);
  const listed = JSON.parse(list.stdout()) as Listed;
  const applyFailures = listed.items.filter((i) => i.stage === 'apply');
  const routeFailures = listed.items.filter((i) => i.stage === 'route');
  // The three invalid samples, and at least one refused sync per connection the samples reach.
  expect(routeFailures.map((i) => i.errorCode).sort()).toEqual(['event_time_in_future', 'invalid_detail', 'unknown_event_type']);
  expect(applyFailures.length).toBeGreaterThanOrEqual(6);
  expect(applyFailures.every((i) => i.errorCode === 'forbidden' && i.status === 403)).toBe(true);
  const refused = [...new Set(applyFailures.map((i) => `${i.providerConfigKey}\n${i.connectionId}`))];
  expect(refused).toContain(`salesforce\n${ACME_SF}`);
  expect(refused).toContain('salesforce\nacme/eu x@y.com');
  for (const c of refused) {
    const [pck, id] = c.split('\n') as [string, string];
    expect(nango.applyHistory(id, pck)).toEqual([]);
  }

  // The fix: the key gets its scope. Only the apply stage is replayed: the invalid events stay.
  refusing = false;
  const replay = spawnCli(['replay', '--stage', 'apply'], env);
  expect(await replay.exited).toBe(0);
  const n = applyFailures.length;
  expect(replay.stdout() + replay.stderr()).toMatch(
    new RegExp(`Replayed ${n} of ${n} chosen message\\(s\\): ${n} message\\(s\\) sent to source queues, 0 failed`),
  );
  await until(() => /ingress 0, sync 0 \| ingress-dlq 3, sync-dlq 0\n$/.test(out), 'the replayed syncs to be applied');
  await until(() => refused.every((c) => nango.applyHistory(c.split('\n')[1]!, c.split('\n')[0]!).length > 0), 'the writes');

  // One write per connection, whatever number of its syncs were parked: the latest state, in one PATCH.
  for (const c of refused) {
    const [pck, id] = c.split('\n') as [string, string];
    expect(nango.applyHistory(id, pck), c).toHaveLength(1);
  }
  expect(nango.metadataOf(ACME_SF, 'salesforce')).toMatchObject({ plan: 'pro', seats: 42, status: 'active', active: true });
  expect(nango.metadataOf('acme/eu x@y.com', 'salesforce')).toEqual({ region: 'eu', flags: { betaSync: true, piiRedaction: true } });

  const after = spawnCli(['list', '--json'], env);
  expect(await after.exited).toBe(0);
  const left = JSON.parse(after.stdout()) as Listed;
  expect(left.items.filter((i) => i.stage === 'apply')).toEqual([]);
  expect(left.matched).toBe(3);

  for (const text of [out, list.stdout(), list.stderr(), replay.stdout(), replay.stderr(), after.stdout(), after.stderr()])
    expect(text).not.toContain(KEY);

  local.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(out).toMatch(/Stopping\.\n$/);
});
