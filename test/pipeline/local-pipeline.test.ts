/**
 * `npm start` end to end: cli/local.ts's main() in this process over the sample events (the real
 * handlers behind the local event sources, fauxqs, dynalite, the stand-ins, the webhook), and as a
 * child process with --json, a file of our own and the legacy endpoint. The expected final metadata
 * comes from an independent oracle: the catalog's schemas, subjects, patches and versions folded by
 * version over the seed connections (and those created later), not from anything the pipeline computed.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '#events/catalog';
import { loadEvents, main } from '../../cli/local.ts';
import type { RunReport } from '../../cli/local-report.ts';
import { loadSeedConnections } from '../../local/pipeline.ts';
import { startNangoStandin, type SeedConnection } from '../../local/standins/nango.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LATER = join(ROOT, 'local', 'fixtures', 'connections-created-later.json');
type Meta = Record<string, unknown>;
type Ev = { id?: string; source?: string; 'detail-type'?: string; time?: string; detail?: unknown };

const tkey = (connectionId: string, providerConfigKey: string) => `${connectionId} / ${providerConfigKey}`;

interface Expected {
  metadata: Map<string, Meta | null>;
  /** Events route must park, by event id. */
  routeDlq: Set<string>;
  /** Connections some event's keys reach. */
  touched: Set<string>;
}

/**
 * The catalog folded over the connections: for each connection, each key in scope takes the value of
 * the event with the highest (version, event id). An event without time is stamped when sent (after
 * every sample); one timed more than five minutes ahead is refused.
 */
function oracle(events: unknown[], connections: SeedConnection[], sentAt = Date.now()): Expected {
  const out: Expected = { metadata: new Map(), routeDlq: new Set(), touched: new Set() };
  const won = new Map<string, { version: number; id: string; value: unknown }>();
  for (const raw of events as Ev[]) {
    const def = catalog.find((d) => d.source === raw.source && d.detailType === raw['detail-type']);
    const parsed = def?.detail.safeParse(raw.detail);
    const time = raw.time ? Date.parse(raw.time) : sentAt;
    if (!def || !parsed?.success || time > Date.now() + 300_000) {
      if (raw.id) out.routeDlq.add(raw.id);
      continue;
    }
    const d = parsed.data;
    const rule = def.subject;
    const integrations = typeof rule.integrations === 'function' ? rule.integrations(d) : rule.integrations;
    const reached = connections.filter((c) => {
      const inScope = integrations === 'all' || integrations.includes(c.providerConfigKey);
      if (rule.by === 'connectionId') return inScope && c.connectionId === rule.connectionId(d);
      return inScope && Object.entries(rule.tags(d)).every(([k, v]) => c.tags?.[k] === v);
    });
    const version = def.version ? def.version(d) : time;
    for (const c of reached) {
      out.touched.add(tkey(c.connectionId, c.providerConfigKey));
      for (const [key, value] of Object.entries(def.patch(d))) {
        const k = `${tkey(c.connectionId, c.providerConfigKey)}\n${key}`;
        const prev = won.get(k);
        const id = raw.id ?? '';
        if (!prev || version > prev.version || (version === prev.version && id > prev.id)) won.set(k, { version, id, value });
      }
    }
  }
  // A connection created without metadata has none (null) until its first PATCH.
  for (const c of connections) out.metadata.set(tkey(c.connectionId, c.providerConfigKey), c.metadata ? { ...c.metadata } : null);
  for (const [k, w] of won) {
    const [conn, key] = k.split('\n') as [string, string];
    const m = out.metadata.get(conn) ?? {};
    m[key] = w.value;
    out.metadata.set(conn, m);
  }
  return out;
}

const capture = () => {
  let text = '';
  return { out: { write: (t: string) => void (text += t), isTTY: false }, text: () => text };
};

describe('npm start (in process, sample events, connections created later)', () => {
  let code: number;
  let printed: string;
  let expected: Expected;
  let dir: string;

  beforeAll(async () => {
    const later = JSON.parse(await readFile(LATER, 'utf8')) as SeedConnection[];
    const events = (await loadEvents([join(ROOT, 'events', 'samples')], ROOT)).map((e) => e.value);
    expected = oracle(events, [...(await loadSeedConnections()), ...later]);
    dir = await mkdtemp(join(tmpdir(), 'local-cli-run-'));
    const out = capture();
    const err = capture();
    code = await main(['--log-file', join(dir, 'handlers.log')], { out: out.out, err: err.out, cwd: ROOT });
    printed = out.text();
    if (code !== 0) throw new Error(`main exited ${code}: ${err.text()}`);
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0', () => {
    expect(code).toBe(0);
  });

  it("writes the handlers' JSON logs to the log file, not to the report", async () => {
    const logs = (await readFile(join(dir, 'handlers.log'), 'utf8')).split('\n').filter((l) => l.startsWith('{'));
    const parsed = logs.map((l) => JSON.parse(l) as { level?: string; correlation_id?: string });
    expect(parsed.some((l) => l.level === 'WARN' && l.correlation_id === [...expected.routeDlq][0])).toBe(true);
    expect(printed).not.toContain('"level"');
    expect(printed).toContain(`handler logs: ${join(dir, 'handlers.log')}`);
  });

  it('prints every connection (UUID ids found by tags, and those created later) with the metadata the catalog implies', () => {
    const section = printed.split('Connections: final metadata')[1]!.split('ingress DLQ')[0]!;
    expect(expected.metadata.size).toBe(9);
    for (const [k, want] of expected.metadata) {
      const line = section.split('\n').find((l) => l.trim().startsWith(`${k} `));
      expect(line, k).toBeDefined();
      expect(JSON.parse(line!.slice(line!.indexOf('{'))), k).toEqual(want);
    }
    expect(printed).not.toContain('_metadataSyncVersions');
  });

  it('prints the ingress DLQ with each rejected event, and an empty sync DLQ', () => {
    const ingress = printed.split('ingress DLQ (route failures): ')[1]!.split('sync DLQ')[0]!;
    expect(ingress).toMatch(/^3 messages/);
    for (const id of expected.routeDlq) expect(ingress).toContain(id);
    for (const code of ['unknown_event_type', 'invalid_detail', 'event_time_in_future']) expect(ingress).toContain(code);
    expect(printed).toContain('sync DLQ (apply failures): 0 messages');
  });

  it('prints per event its subject, and which keys a newer event already held', () => {
    const events = printed.split('Subjects: desired state')[0]!;
    expect(events).toMatch(/state {2}7f3c1b2e-0d1a-4c59-9a3e-000000000001 {2}customer\.plan_changed/);
    expect(events).toContain('-> tags:organization_id=acme  set plan, planChangedAt  synced to 2 connections');
    // seats 40 (changedAt .400) arrived after seats 42 (changedAt .900): superseded, whatever the arrival order.
    expect(events).toMatch(/superseded {2}7f3c1b2e-0d1a-4c59-9a3e-000000000002[^\n]*\n[^\n]*newer already stored: seats, seatsChangedAt/);
    expect(events).toMatch(/tags:organization_id=initech {2}set plan, planChangedAt {2}no connection yet/);
    // A superseded event wrote nothing and so sent nothing; its customer has connections.
    expect(events).toMatch(
      /superseded .*\n.*tags:organization_id=acme {2}\(newer already stored: seats, seatsChangedAt\) {2}nothing to send/,
    );
  });

  it('sends one PATCH per connection touched: the floor', () => {
    expect(expected.touched.size).toBe(9);
    expect(printed).toMatch(/Nango: 9 PATCHes \(floor: one per connection touched = 9\)/);
    expect(printed).toMatch(/\(3 seeds of connections created later\)/);
  });
});

describe('npm start: bad input is refused before anything starts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const out = capture();
    const err = capture();
    const code = await main(argv, { out: out.out, err: err.out, env, cwd: dir });
    return { code, out: out.text(), err: err.text() };
  };

  it('--help prints usage and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: npm start/);
    expect(r.out).toContain('--nango-url URL');
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['missing.json'], /missing\.json: no such file or directory/],
    [['--endpoint', 'v2'], /--endpoint must be "current" or "legacy"/],
    [['--nango-url', 'http://127.0.0.1:9'], /NANGO_SECRET_KEY/],
    [['--nango-url', 'not a url'], /not a URL/],
    [['--timeout=0'], /--timeout must be a positive number/],
    [['--timeout', 'soon'], /--timeout must be a positive number/],
  ])('%j exits 2 with a clear message', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toContain('--help');
    expect(r.out).toBe('');
  });

  it('a file that is not JSON, or an empty array, exits 2 naming the file', async () => {
    await writeFile(join(dir, 'broken.json'), '{"source": ');
    await writeFile(join(dir, 'empty.json'), '[]');
    expect(await run(['broken.json'])).toMatchObject({ code: 2, err: expect.stringMatching(/broken\.json: not valid JSON/) });
    expect(await run(['empty.json'])).toMatchObject({ code: 2, err: expect.stringMatching(/empty\.json: an empty array/) });
  });
});

/** Runs cli/local.ts in a child process; resolves when it exits by itself (a hang fails at the test timeout). */
async function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'local.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stdout, stderr };
}

describe('npm start as a process: --json, own events, legacy endpoint', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-cli-json-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints only JSON on stdout, matching the oracle, and exits by itself', async () => {
    const events = [
      {
        id: 'own-1',
        source: 'app.accounts',
        'detail-type': 'customer.settings_changed',
        time: '2026-11-21T08:00:00Z',
        detail: { customerId: 'acme/eu x@y.com', region: 'ap', sequence: 3 },
      },
      {
        id: 'own-2',
        source: 'app.billing',
        'detail-type': 'customer.plan_changed',
        time: '2026-11-21T08:01:00Z',
        detail: { organizationId: 'globex', plan: 'free', changedAt: '2026-11-21T08:01:00Z' },
      },
      {
        id: 'own-3',
        source: 'app.billing',
        'detail-type': 'customer.seats_changed',
        time: '2026-11-21T08:02:00Z',
        detail: { organizationId: 'globex', seats: -5 },
      },
    ];
    const file = join(dir, 'mine.json');
    await writeFile(file, JSON.stringify(events));
    const expected = oracle(events, await loadSeedConnections());

    const { code, stdout, stderr } = await runCli(['--json', '--endpoint', 'legacy', '--log-file', join(dir, 'json.log'), file], {
      NANGO_SECRET_KEY: '',
    });
    expect(code, stderr).toBe(0);

    const report = JSON.parse(stdout) as RunReport;
    expect(report.nango).toMatchObject({ kind: 'stand-in', endpoint: 'legacy' });
    expect(report.summary).toMatchObject({ events: 3, pending: 0, dlq: 1, setState: 2, connectionsSeeded: 0 });
    for (const c of report.connections)
      expect(c.metadata, tkey(c.connectionId, c.providerConfigKey)).toEqual(
        expected.metadata.get(tkey(c.connectionId, c.providerConfigKey)),
      );
    expect(report.events.find((e) => e.eventId === 'own-3')).toMatchObject({ outcome: 'dlq', error: { code: 'invalid_detail' } });
    expect(report.dlq.flatMap((d) => d.eventIds)).toEqual([...expected.routeDlq]);
    // Two connections reached (globex's salesforce and hubspot for the plan, acme/eu for settings): three PATCHes.
    expect(report.summary.nango?.patches).toBe(expected.touched.size);
    expect(report.logFile).toMatch(/\.log$/);
  }, 120_000);

  it('--nango-url runs against another Nango server with the key from NANGO_SECRET_KEY, and never prints the key', async () => {
    const key = randomUUID();
    const seeds = await loadSeedConnections();
    const nango = await startNangoStandin({ secretKey: key, connections: seeds });
    try {
      const events = [
        {
          id: 'remote-1',
          source: 'app.billing',
          'detail-type': 'customer.plan_changed',
          time: '2026-11-22T08:00:00Z',
          detail: { organizationId: 'acme', plan: 'enterprise', changedAt: '2026-11-22T08:00:00Z' },
        },
        {
          id: 'remote-2',
          source: 'app.billing',
          'detail-type': 'customer.plan_changed',
          time: '2026-11-22T08:01:00Z',
          detail: { organizationId: 'nobody-yet', plan: 'free', changedAt: '2026-11-22T08:01:00Z' },
        },
      ];
      const file = join(dir, 'remote.json');
      await writeFile(file, JSON.stringify(events));
      const expected = oracle(events, seeds);
      const { code, stdout, stderr } = await runCli(['--json', '--nango-url', nango.url, '--log-file', join(dir, 'remote.log'), file], {
        NANGO_SECRET_KEY: key,
      });
      expect(code, stderr).toBe(0);
      const report = JSON.parse(stdout) as RunReport;
      expect(report.nango).toEqual({ url: nango.url, kind: 'real', endpoint: 'current' });
      // With another server, the report lists the connections syncs reached, read back with the list endpoint.
      expect(report.connections.map((c) => tkey(c.connectionId, c.providerConfigKey)).sort()).toEqual([...expected.touched].sort());
      for (const c of report.connections) {
        const k = tkey(c.connectionId, c.providerConfigKey);
        expect(c.metadata, k).toEqual(expected.metadata.get(k));
        expect(nango.metadataOf(c.connectionId, c.providerConfigKey)).toEqual(c.metadata);
      }
      // Never GET /connections/{id}: it returns credentials and may refresh them.
      expect(nango.requests.filter((r) => r.method === 'GET' && r.path !== '/connections')).toEqual([]);
      const logs = await readFile(report.logFile!, 'utf8');
      expect(logs).toContain('remote-1');
      for (const text of [stdout, stderr, logs]) expect(text).not.toContain(key);
    } finally {
      await nango.close();
    }
  }, 120_000);

  it('a Nango that cannot be reached: the report shows what is pending, and the exit is 1 with the reason', async () => {
    const free = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const file = join(dir, 'one.json');
    await writeFile(
      file,
      JSON.stringify({
        id: 'lost-1',
        source: 'app.billing',
        'detail-type': 'customer.plan_changed',
        time: '2026-11-22T09:00:00Z',
        detail: { organizationId: 'globex', plan: 'pro', changedAt: '2026-11-22T09:00:00Z' },
      }),
    );
    const { code, stdout, stderr } = await runCli(
      ['--nango-url', `http://127.0.0.1:${free}`, '--timeout', '2', '--log-file', join(dir, 'down.log'), file],
      {
        NANGO_SECRET_KEY: randomUUID(),
      },
    );
    expect(code).toBe(1);
    // Route keeps the state and retries its connection lookup: the event waits in the ingress queue.
    expect(stderr).toMatch(/queues not drained after 2000 ms \(.*ingress: 0 visible, 1 in flight/);
    expect(stdout).toMatch(/pending\s+lost-1/);
  }, 120_000);
});
