/**
 * The DLQ tool as an operator uses it against `npm start -- --keep-running`: the pipeline in one
 * process, the tool in others, configured only by the exports npm start prints. Nango is a stand-in
 * this test runs and controls, given to npm start with --nango-url (as a self-hosted Nango would be):
 * its key first lacks the update scope, so every PATCH gets a 403 and every sync is parked. `dlq
 * list` shows them with Nango's code beside the invalid sample events; the scope is granted; `dlq
 * replay` sends the syncs back; each connection gets its latest state in one PATCH and the sync DLQ
 * empties. Ctrl-C stops npm start cleanly. The key never appears in anything printed. Then with
 * npm start's own stand-in: the invalid samples, replayed, come back with their codes, and the
 * printed curl connects a customer whom the auth webhook seeds.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadSeedConnections } from '../../../local/pipeline.ts';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';
import { spawnCli } from './run-cli.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KEY = randomUUID();
const ACME_SF = '3b1f6a52-8e0c-4d1e-9f3a-5c2b7d9e1a01';

let nango: NangoStandin;
let refusing = true;
const started: ReturnType<typeof spawn>[] = [];

beforeAll(async () => {
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: await loadSeedConnections(),
    fault: (r) =>
      refusing && r.method === 'PATCH'
        ? { kind: 'status', status: 403, code: 'forbidden', message: 'missing scope environment:connections:update' }
        : undefined,
  });
});
afterAll(async () => {
  for (const proc of started) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  await nango.close();
});

/** `npm start -- --keep-running ...` in its own process; `out()` is everything it printed so far. */
function npmStart(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'cli/local.ts', '--keep-running', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(proc);
  let text = '';
  proc.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  proc.stderr!.on('data', () => {});
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const out = () => text;
  const until = async (pred: (out: string) => boolean, what: string, ms = 60_000) => {
    const end = Date.now() + ms;
    while (!pred(text)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; npm start printed:\n${text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** The environment the printed exports give the operator's other shell. */
  const exports = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const m of text.matchAll(/^ {2}export (\w+)=(\S+)$/gm)) env[m[1]!] = m[2]!.replace(/^'|'$/g, '');
    return env;
  };
  return { proc, out, exited, until, exports };
}

interface Listed {
  matched: number;
  summary: { byErrorCode: { key: string; count: number }[] };
  items: {
    messageId: string;
    stage: string;
    errorCode: string;
    status?: number;
    eventIds: string[];
    connectionId?: string;
    providerConfigKey?: string;
  }[];
}

it('list shows the refused syncs with Nango code; after the fix, replay applies the latest state once per connection', async () => {
  const local = npmStart(['--nango-url', nango.url], { ...process.env, NANGO_SECRET_KEY: KEY });
  await local.until((o) => /Changes show up here/.test(o), 'the keep-running banner');
  const env = local.exports();
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
  await local.until((o) => /ingress 0, sync 0 \| ingress-dlq 3, sync-dlq 0\n$/.test(o), 'the replayed syncs to be applied');
  await local.until(() => refused.every((c) => nango.applyHistory(c.split('\n')[1]!, c.split('\n')[0]!).length > 0), 'the writes');

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

  for (const text of [local.out(), list.stdout(), list.stderr(), replay.stdout(), replay.stderr(), after.stdout(), after.stderr()])
    expect(text).not.toContain(KEY);

  local.proc.kill('SIGINT');
  expect(await local.exited).toBe(0);
  expect(local.out()).toMatch(/Stopping\.\n$/);
});

it('with its own stand-in: invalid events replayed come back with their codes; the printed curl connects a customer, who is seeded', async () => {
  const local = npmStart([]);
  await local.until((o) => /Changes show up here/.test(o), 'the keep-running banner');
  const env = local.exports();
  const list = spawnCli(['list', '--json'], env);
  expect(await list.exited).toBe(0);
  const before = JSON.parse(list.stdout()) as Listed;
  // The samples' smoke run: only the three invalid events failed.
  expect(before.items.map((i) => `${i.stage} ${i.errorCode}`).sort()).toEqual([
    'route event_time_in_future',
    'route invalid_detail',
    'route unknown_event_type',
  ]);

  // Replaying what is still invalid: the tool sends them (exit 0) and route parks them again, as they were.
  const replay = spawnCli(['replay', '--stage', 'route'], env);
  expect(await replay.exited).toBe(0);
  expect(replay.stdout()).toMatch(/Replayed 3 of 3 chosen message\(s\): 3 message\(s\) sent to source queues, 0 failed/);
  let again: typeof before | undefined;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const l = spawnCli(['list', '--json'], env);
    expect(await l.exited).toBe(0);
    again = JSON.parse(l.stdout()) as typeof before;
    if (again.matched === 3 && again.items.every((i) => !before.items.some((b) => b.messageId === i.messageId))) break;
    if (Date.now() > deadline) throw new Error(`the replayed events did not come back: ${l.stdout()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const byEvent = (l: typeof before) => l.items.map((i) => `${i.eventIds[0]} ${i.errorCode}`).sort();
  expect(byEvent(again)).toEqual(byEvent(before));

  // The printed curl: a customer connects as through the Connect UI; the webhook seeds the connection.
  const patches = Number(
    /Nango: (\d+) PATCH requests/.exec(
      local
        .out()
        .split('\n')
        .filter((l) => l.includes('PATCH requests'))
        .at(-1) ?? '',
    )?.[1],
  );
  expect(patches).toBeGreaterThan(0);
  const curl = /curl -sX POST (\S+) -H 'content-type: application\/json' -d '([^']+)'/.exec(local.out());
  expect(curl).not.toBeNull();
  const res = await fetch(curl![1]!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: curl![2]! });
  expect(res.status).toBe(201);
  await local.until((o) => o.includes(`Nango: ${patches + 1} PATCH requests`), 'the new connection to be seeded');

  local.proc.kill('SIGINT');
  expect(await local.exited).toBe(0);
  expect(local.out()).toMatch(/Stopping\.\n$/);
});
