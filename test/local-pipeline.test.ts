/**
 * `npm start` end to end: cli/local.ts's main() in this process over the sample events (the real
 * handlers behind the local event source, fauxqs, the stand-ins), and once as a child process with
 * --json, a file of our own and the legacy endpoint. The expected final metadata and DLQ contents
 * come from an independent oracle: the catalog's own schemas, targets and patches folded in
 * event-time order over the seed connections, not from anything the pipeline computed.
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
import { VERSIONS_KEY } from '#commons/apply/ordering';
import { loadEvents, main } from '../cli/local.ts';
import type { RunReport } from '../cli/local-report.ts';
import { loadSeedConnections } from '../local/pipeline.ts';
import { startNangoStandin } from '../local/standins/nango.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
type Meta = Record<string, unknown>;

interface Expected {
  metadata: Map<string, Meta>;
  /** Events route must park, by event id. */
  routeDlq: Set<string>;
  /** Targets apply must park with unknown_connection. */
  unknownTargets: Set<string>;
  appliedEvents: Set<string>;
}

const tkey = (connectionId: string, providerConfigKey: string) => `${connectionId} / ${providerConfigKey}`;

/** The catalog folded over the seeds: what Nango must hold afterwards, and what must be parked. */
async function oracle(events: unknown[]): Promise<Expected> {
  const seeds = await loadSeedConnections();
  const metadata = new Map(seeds.map((c) => [tkey(c.connectionId, c.providerConfigKey), { ...(c.metadata ?? {}) } as Meta]));
  const out: Expected = { metadata, routeDlq: new Set(), unknownTargets: new Set(), appliedEvents: new Set() };
  // An event without time takes its send time: after every sample's fixed time.
  const timed = events
    .map((e, i) => ({ e: e as { id?: string; source?: string; 'detail-type'?: string; time?: string; detail?: unknown }, i }))
    .sort((a, b) => (a.e.time ?? '9999').localeCompare(b.e.time ?? '9999') || a.i - b.i);
  for (const { e } of timed) {
    const def = catalog.find((d) => d.source === e.source && d.detailType === e['detail-type']);
    const parsed = def?.detail.safeParse(e.detail);
    if (!def || !parsed?.success) {
      if (e.id) out.routeDlq.add(e.id);
      continue;
    }
    const specs = [def.targets(parsed.data)].flat();
    const keys = specs.flatMap((s) =>
      (s.integrations === 'all'
        ? seeds.filter((c) => c.connectionId === s.connectionId).map((c) => c.providerConfigKey)
        : s.integrations
      ).map((k) => tkey(s.connectionId, k)),
    );
    if (keys.length === 0 && e.id) out.routeDlq.add(e.id);
    const patch = def.patch(parsed.data);
    for (const k of keys) {
      const m = metadata.get(k);
      if (m) Object.assign(m, patch);
      else out.unknownTargets.add(k);
    }
    if (e.id && keys.length > 0 && keys.every((k) => metadata.has(k))) out.appliedEvents.add(e.id);
  }
  return out;
}

const capture = () => {
  let text = '';
  return { out: { write: (t: string) => void (text += t), isTTY: false }, text: () => text };
};

describe('npm start (in process, sample events)', () => {
  let code: number;
  let printed: string;
  let expected: Expected;

  let dir: string;

  beforeAll(async () => {
    expected = await oracle((await loadEvents([join(ROOT, 'events', 'samples')], ROOT)).map((e) => e.value));
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

  it("writes the handlers' JSON logs to the log file, not to the report", async () => {
    // Everything the process wrote while the pipeline ran: the handlers' JSON lines (and Node warnings).
    const logs = (await readFile(join(dir, 'handlers.log'), 'utf8')).split('\n').filter((l) => l.startsWith('{'));
    const parsed = logs.map((l) => JSON.parse(l) as { level?: string; correlation_id?: string });
    expect(parsed.some((l) => l.level === 'WARN' && l.correlation_id === [...expected.routeDlq][0])).toBe(true);
    expect(printed).not.toContain('"level"');
    expect(printed).toContain(`handler logs: ${join(dir, 'handlers.log')}`);
  });

  it('exits 0', () => {
    expect(code).toBe(0);
  });

  it('prints each connection with the metadata the catalog implies', () => {
    const section = printed.split('Connections: final metadata')[1]!.split('DLQ (route failures)')[0]!;
    for (const [k, meta] of expected.metadata) {
      const line = section.split('\n').find((l) => l.trim().startsWith(`${k} `) || l.trim() === k);
      expect(line, `no line for ${k}`).toBeDefined();
      const json = line!.slice(line!.indexOf('{'), line!.lastIndexOf('}') + 1);
      expect(JSON.parse(json), k).toEqual(meta);
    }
    for (const k of expected.unknownTargets)
      expect(section).toMatch(new RegExp(`${k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s+\\(no such connection\\)`));
  });

  it("prints the route DLQ with each rejected event and the patches DLQ with Nango's error per unknown connection", () => {
    const ingress = printed.split('ingress DLQ (route failures): ')[1]!.split('patches DLQ')[0]!;
    const patches = printed.split('patches DLQ (apply failures): ')[1]!.split('Summary')[0]!;
    expect(ingress).toMatch(new RegExp(`^${expected.routeDlq.size} message`));
    for (const id of expected.routeDlq) expect(ingress).toContain(id);
    expect(patches).toMatch(new RegExp(`^${expected.unknownTargets.size} message`));
    for (const k of expected.unknownTargets)
      expect(patches).toMatch(
        new RegExp(`unknown_connection \\(HTTP 404\\)\\s+\\[apply\\]\\s+${k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`),
      );
  });

  it('prints per event its patches and outcome', () => {
    const events = printed.split('Connections: final metadata')[0]!;
    for (const id of expected.appliedEvents) expect(events).toMatch(new RegExp(`applied\\s+${id}`));
    for (const id of expected.routeDlq) expect(events).toMatch(new RegExp(`DLQ\\s+${id}`));
    expect(printed).toMatch(/0 pending/);
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
        detail: { customerId: 'acme/eu x@y.com', region: 'ap' },
      },
      {
        id: 'own-2',
        source: 'app.billing',
        'detail-type': 'customer.plan_changed',
        time: '2026-11-21T08:01:00Z',
        detail: { customerId: 'globex', plan: 'free', changedAt: '2026-11-21T08:01:00Z' },
      },
      {
        id: 'own-3',
        source: 'app.billing',
        'detail-type': 'customer.seats_changed',
        time: '2026-11-21T08:02:00Z',
        detail: { customerId: 'globex', seats: -5 },
      },
    ];
    const file = join(dir, 'mine.json');
    await writeFile(file, JSON.stringify(events));
    const expected = await oracle(events);

    const { code, stdout, stderr } = await runCli(['--json', '--endpoint', 'legacy', '--log-file', join(dir, 'json.log'), file], {
      NANGO_SECRET_KEY: '',
    });
    expect(code, stderr).toBe(0);

    const report = JSON.parse(stdout) as RunReport;
    expect(report.nango).toMatchObject({ kind: 'stand-in', endpoint: 'legacy' });
    expect(report.summary).toMatchObject({ events: 3, pending: 0 });
    for (const c of report.connections) {
      const want = expected.metadata.get(tkey(c.connectionId, c.providerConfigKey));
      const { [VERSIONS_KEY]: _versions, ...got } = c.metadata ?? {};
      expect(got, tkey(c.connectionId, c.providerConfigKey)).toEqual(want);
    }
    expect(report.events.find((e) => e.eventId === 'own-3')).toMatchObject({ outcome: 'dlq', routeError: { stage: 'route' } });
    expect(report.dlq.flatMap((d) => d.eventIds)).toEqual([...expected.routeDlq]);
    for (const id of expected.appliedEvents) expect(report.events.find((e) => e.eventId === id)?.outcome).toBe('applied');
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
          detail: { customerId: 'acme-corp', plan: 'enterprise', changedAt: '2026-11-22T08:00:00Z' },
        },
        {
          id: 'remote-2',
          source: 'app.billing',
          'detail-type': 'customer.plan_changed',
          time: '2026-11-22T08:01:00Z',
          detail: { customerId: 'initech', plan: 'free', changedAt: '2026-11-22T08:01:00Z' },
        },
      ];
      const file = join(dir, 'remote.json');
      await writeFile(file, JSON.stringify(events));
      const expected = await oracle(events);
      const { code, stdout, stderr } = await runCli(['--json', '--nango-url', nango.url, '--log-file', join(dir, 'remote.log'), file], {
        NANGO_SECRET_KEY: key,
      });
      expect(code, stderr).toBe(0);
      const report = JSON.parse(stdout) as RunReport;
      expect(report.nango).toEqual({ url: nango.url, kind: 'real', endpoint: 'current' });
      // With another server, the report lists the connections the events touched, read back over HTTP.
      expect(report.connections.map((c) => tkey(c.connectionId, c.providerConfigKey)).sort()).toEqual([
        'acme-corp / hubspot',
        'acme-corp / salesforce',
        'initech / hubspot',
        'initech / salesforce',
      ]);
      for (const c of report.connections) {
        const k = tkey(c.connectionId, c.providerConfigKey);
        if (expected.unknownTargets.has(k)) expect(c.metadata, k).toBeUndefined();
        else {
          const { [VERSIONS_KEY]: _v, ...got } = c.metadata ?? {};
          expect(got, k).toEqual(expected.metadata.get(k));
          expect(nango.metadataOf(c.connectionId, c.providerConfigKey)).toEqual(c.metadata);
        }
      }
      expect(
        report.dlq
          .filter((d) => d.code === 'unknown_connection')
          .map((d) => tkey(d.connectionId!, d.providerConfigKey!))
          .sort(),
      ).toEqual([...expected.unknownTargets].sort());
      expect(nango.requests.some((r) => r.method === 'PATCH')).toBe(true);
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
        detail: { customerId: 'globex', plan: 'pro', changedAt: '2026-11-22T09:00:00Z' },
      }),
    );
    const { code, stdout, stderr } = await runCli(
      ['--nango-url', `http://127.0.0.1:${free}`, '--timeout', '2', '--log-file', join(dir, 'down.log'), file],
      {
        NANGO_SECRET_KEY: randomUUID(),
      },
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(/queues not drained after 2000 ms \(.*patches\.fifo: 0 visible, 2 in flight/);
    expect(stdout).toMatch(/pending\s+lost-1/);
    expect(stdout).toMatch(/globex \/ salesforce\s+\(could not read it: .*ECONNREFUSED\)/);
  }, 120_000);
});
