/**
 * `replay --dry-run`: what would be sent, beside each connection's current metadata read from the
 * Nango stand-in with the list endpoint (GET /connections?connectionId=&integrationId=, never
 * GET /connections/{id}, which returns credentials and refreshes tokens), the key taken from
 * NANGO_SECRET_KEY or Secrets Manager and never printed, not even when Nango or a proxy echoes it;
 * nothing sent, nothing removed. A version 2 envelope (sync messages, no values) shows what Nango
 * holds now; a version 1 envelope left from before the upgrade shows its patch key by key.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../../../local/standins/sqs.ts';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';
import { startSecretsManagerStandin, type SecretsManagerStandin } from '../../../local/standins/secrets-manager.ts';
import { applyEnvelope, envelopeMessage, legacyApplyEnvelope, legacyPatch, planEvent, routeEnvelope, sync } from './fixtures.ts';
import { counts, queueFlags, seed } from './queue-tools.ts';
import { dlq, spawnCli } from './run-cli.ts';

const KEY = randomUUID();
const acme = { connectionId: 'acme/eu x@y.com', providerConfigKey: 'salesforce' };
const ghost = { connectionId: 'initech', providerConfigKey: 'salesforce' };

let local: LocalSqs;
let nango: NangoStandin;
let secrets: SecretsManagerStandin;
let q: PipelineQueues;

beforeAll(async () => {
  local = await startLocalSqs();
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: [
      {
        ...acme,
        metadata: {
          plan: 'pro',
          seats: 5,
          region: 'eu',
          _metadataSyncVersions: { plan: '2026-11-20T13:00:00.000Z', seats: '2026-11-20T11:00:00.000Z' },
        },
      },
    ],
  });
  secrets = await startSecretsManagerStandin({ secrets: { 'sync/nango': JSON.stringify({ secretKey: KEY, host: nango.url }) } });
  process.env.AWS_ENDPOINT_URL_SQS = local.endpoint;
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets.url;
  q = await local.createPipelineQueues();
  await seed(local.client(), q.syncDlqUrl, [
    envelopeMessage(
      legacyApplyEnvelope([
        legacyPatch(acme, { plan: 'starter', seats: 7, tier: 'gold', region: 'eu' }, 'e-acme', '2026-11-20T12:00:00.000Z'),
      ]),
    ),
    envelopeMessage(applyEnvelope([sync(ghost, { eventId: 'e-ghost' })])),
  ]);
  await seed(local.client(), q.ingressDlqUrl, [envelopeMessage(routeEnvelope(planEvent('e-route', 'acme', 'platinum')))]);
});
afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_SQS;
  delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
  delete process.env.NANGO_SECRET_KEY;
  await local.close();
  await nango.close();
  await secrets.close();
});

const flags = () => queueFlags(q);
/** The dry run of acme's apply failures, reading Nango at the stand-in. */
const dryRunOfAcme = () =>
  dlq(['replay', '--dry-run', '--stage', 'apply', '--connection', acme.connectionId, '--nango-host', nango.url, ...flags()]);
it('shows a version 1 patch beside the current metadata, key by key, and an unknown connection for a sync; changes nothing', async () => {
  process.env.NANGO_SECRET_KEY = KEY;
  try {
    const r = await dlq(['replay', '--dry-run', '--nango-host', nango.url, ...flags()]);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/Dry run: 3 message\(s\) chosen, 3 replayable\. Nothing is sent or removed\./);
    // plan: a newer event (13:00) set it; apply's ordering guard keeps Nango's value.
    expect(out).toMatch(/plan\s+"pro"\s+"starter"\s+stale: kept, a newer event \(2026-11-20T13:00:00.000Z\) set it/);
    expect(out).toMatch(/seats\s+5\s+7\s+overwrites/);
    expect(out).toMatch(/tier\s+\(absent\)\s+"gold"\s+new/);
    expect(out).toMatch(/region\s+"eu"\s+"eu"\s+unchanged/);
    expect(out).toMatch(/Nango does not know this connection: the replay would fail again/);
    expect(out).toMatch(/\[route\][\s\S]*-> ingress: \{"id":"e-route"/);
    expect(r.stdout + r.stderr).not.toContain(KEY);

    const gets = nango.requests.filter((x) => x.method === 'GET');
    expect(gets.map((g) => g.path)).toEqual(['/connections', '/connections']);
    expect(gets.map((g) => g.query)).toEqual(
      expect.arrayContaining([
        { connectionId: acme.connectionId, integrationId: 'salesforce' },
        { connectionId: 'initech', integrationId: 'salesforce' },
      ]),
    );
    expect(nango.requests.filter((x) => x.method !== 'GET')).toEqual([]);
    expect(await counts(local.client(), q.syncDlqUrl)).toEqual({ visible: 2, hidden: 0, total: 2 });
    expect(await counts(local.client(), q.ingressDlqUrl)).toEqual({ visible: 1, hidden: 0, total: 1 });
    expect((await counts(local.client(), q.syncUrl)).total + (await counts(local.client(), q.ingressUrl)).total).toBe(0);
  } finally {
    delete process.env.NANGO_SECRET_KEY;
  }
});

it('`npm run dlq replay --dry-run` (npm keeps the flag, npm_config_dry_run) replays nothing and exits 2', async () => {
  process.env.NANGO_SECRET_KEY = KEY;
  process.env.npm_config_dry_run = 'true';
  try {
    const r = await dlq(['replay', '--nango-host', nango.url, ...flags()]);
    expect(r.stderr).toMatch(/npm took --dry-run for itself.*npm run dlq replay -- --dry-run/);
    expect(r.code).toBe(2);
  } finally {
    delete process.env.npm_config_dry_run;
  }
  try {
    const still = await dlq(['replay', '--dry-run', '--nango-host', nango.url, ...flags()]);
    expect(still.stdout).toMatch(/Dry run: 3 message\(s\) chosen, 3 replayable\./);
  } finally {
    delete process.env.NANGO_SECRET_KEY;
  }
});

it('takes the key (and host) from Secrets Manager; --json carries the comparison; no key means a note, not a failure', async () => {
  nango.reset();
  const r = await dlq([
    'replay',
    '--dry-run',
    '--json',
    '--stage',
    'apply',
    '--connection',
    acme.connectionId,
    '--nango-secret-id',
    'sync/nango',
    ...flags(),
  ]);
  expect(r.code).toBe(0);
  expect(r.stdout + r.stderr).not.toContain(KEY);
  const j = JSON.parse(r.stdout) as {
    selected: number;
    nango: string;
    items: {
      current: { ok: boolean; metadata: Record<string, unknown> };
      comparison: { keys: { key: string; change: string }[]; untouched: number };
    }[];
  };
  expect(j.selected).toBe(1);
  expect(j.nango).toBe(nango.url);
  expect(j.items[0]!.current.ok).toBe(true);
  expect(j.items[0]!.current.metadata.plan).toBe('pro');
  expect(Object.fromEntries(j.items[0]!.comparison.keys.map((k) => [k.key, k.change]))).toEqual({
    plan: 'stale',
    seats: 'overwrites',
    tier: 'new',
    region: 'unchanged',
  });
  expect(nango.requests.filter((x) => x.method === 'GET')).toHaveLength(1);
  expect(nango.requests[0]).toMatchObject({
    path: '/connections',
    query: { connectionId: acme.connectionId, integrationId: 'salesforce' },
  });

  const none = await dlq(['replay', '--dry-run', '--stage', 'apply', ...flags()]);
  expect(none.code).toBe(0);
  expect(none.stdout).toMatch(/No Nango key: set NANGO_SECRET_KEY/);
  expect(none.stdout).toMatch(/plan\s+"starter"/);

  const badSecret = await dlq(['replay', '--dry-run', '--stage', 'apply', '--nango-secret-id', 'no/such/secret', ...flags()]);
  expect(badSecret.code).not.toBe(0);
  expect(badSecret.stderr).toMatch(/reading the Nango key from Secrets Manager \(no\/such\/secret\)/);
  expect(await counts(local.client(), q.syncDlqUrl)).toEqual({ visible: 2, hidden: 0, total: 2 });
});

afterEach(() => {
  delete process.env.NANGO_SECRET_KEY;
  nango.setFault(undefined);
});

/** Every request the stand-in saw for one connection; none may be GET /connections/{id}. */
const neverReadsOne = () => {
  for (const r of nango.requests) expect(r.path).toBe('/connections');
};

it('for a version 2 envelope (sync messages, no patch) shows what Nango holds now: the replay sends the latest state', async () => {
  process.env.NANGO_SECRET_KEY = KEY;
  nango.reset();
  const q3 = await local.createPipelineQueues({ prefix: 'v2dry-' });
  await seed(local.client(), q3.syncDlqUrl, [envelopeMessage(applyEnvelope([sync(acme)], undefined, undefined, ['plan']))]);
  const r = await dlq([
    'replay',
    '--dry-run',
    '--nango-host',
    nango.url,
    '--wait',
    '0',
    '--sync-dlq-url',
    q3.syncDlqUrl,
    '--sync-url',
    q3.syncUrl,
  ]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/-> sync group /);
  expect(r.stdout).toMatch(/current metadata \(Nango\):\n\s+key\s+value[\s\S]*plan\s+"pro"[\s\S]*seats\s+5/);
  expect(r.stdout).not.toContain('_metadataSyncVersions');
  expect(nango.requests.map((x) => [x.method, x.path])).toEqual([['GET', '/connections']]);
  expect(await counts(local.client(), q3.syncDlqUrl)).toEqual({ visible: 1, hidden: 0, total: 1 });
});

it('never prints the key when Nango (or a proxy) echoes the Authorization header in JSON, in `errors`, or in an HTML page', async () => {
  process.env.NANGO_SECRET_KEY = KEY;
  const pages = [
    {
      kind: 'status' as const,
      status: 400,
      body: {
        error: {
          code: 'invalid_request',
          message: `rejected header Authorization: Bearer ${KEY}`,
          errors: [{ header: 'authorization', value: `Bearer ${KEY}` }, { raw: KEY }],
        },
      },
    },
    { kind: 'html' as const, status: 403, body: `<html><body><h1>403 Forbidden</h1><pre>Authorization: Bearer ${KEY}</pre></body></html>` },
    { kind: 'status' as const, status: 502, body: { message: `upstream saw Bearer ${KEY}` } },
  ];
  for (const fault of pages) {
    nango.reset();
    nango.setFault(() => fault);
    for (const json of [false, true]) {
      const r = await dlq(['replay', '--dry-run', ...(json ? ['--json'] : []), '--stage', 'apply', '--nango-host', nango.url, ...flags()]);
      expect(r.code).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(KEY);
      expect(r.stdout + r.stderr).not.toContain(KEY.slice(0, 8));
      expect(r.stdout).toContain('[REDACTED]');
    }
    neverReadsOne();
  }
  // The details reached the operator, scrubbed.
  nango.setFault(() => pages[0]);
  const r = await dryRunOfAcme();
  expect(r.stdout).toMatch(
    /could not read the current metadata: invalid_request \(HTTP 400\) rejected header Authorization: Bearer \[REDACTED\]/,
  );
  expect(r.stdout).toMatch(/details \[\{"header":"authorization","value":"Bearer \[REDACTED\]"\},\{"raw":"\[REDACTED\]"\}\]/);
  nango.setFault(() => pages[1]);
  const html = await dryRunOfAcme();
  expect(html.stdout).toMatch(
    /could not read the current metadata: http_403 \(HTTP 403\) 403 Forbidden Authorization: Bearer \[REDACTED\]/,
  );
});

it('never prints the key split across the code, the message and `errors` (each piece too short to be seen alone)', async () => {
  process.env.NANGO_SECRET_KEY = KEY;
  const pieces = [KEY.slice(0, 12), KEY.slice(12, 24), KEY.slice(24)];
  const split = {
    kind: 'status' as const,
    status: 400,
    // Last piece first: a reader puts them back in order.
    body: { error: { code: pieces[2], message: pieces[1], errors: [pieces[0]] } },
  };
  nango.reset();
  nango.setFault(() => split);
  try {
    for (const json of [false, true]) {
      const r = await dlq(['replay', '--dry-run', ...(json ? ['--json'] : []), '--stage', 'apply', '--nango-host', nango.url, ...flags()]);
      expect(r.code).toBe(0);
      // The answer was read: the operator is told the read failed, with its status.
      expect(r.stdout).toMatch(/400/);
      const printed = (r.stdout + r.stderr).toLowerCase();
      for (const piece of pieces) expect(printed).not.toContain(piece.toLowerCase());
    }
  } finally {
    nango.setFault(undefined);
  }
});

it('scrubs a server that really echoes the header it was sent (a tiny HTTP server on 127.0.0.1)', async () => {
  process.env.NANGO_SECRET_KEY = KEY;
  const seen: string[] = [];
  const echo = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ error: { code: 'unknown_account', message: `no account for ${req.headers.authorization}`, payload: req.headers } }),
    );
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    for (const json of [false, true]) {
      const r = await dlq(['replay', '--dry-run', ...(json ? ['--json'] : []), '--stage', 'apply', '--nango-host', url, ...flags()]);
      expect(r.code).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(KEY);
      expect(r.stdout).toMatch(/unknown_account/);
      expect(r.stdout).toMatch(/no account for Bearer \[REDACTED\]/);
    }
    expect(seen.every((u) => u.startsWith('/connections?'))).toBe(true);
  } finally {
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  }
});

it('scrubs envelopes that already hold the key in their stored error text: list, list --json, inspect, inspect --json, dry run', async () => {
  const q2 = await local.createPipelineQueues({ prefix: 'leak-' });
  const leaky = {
    status: 401,
    code: 'unknown_account',
    message: `echo: Authorization: Bearer ${KEY}`,
    errors: { headers: { authorization: `Bearer ${KEY}` }, key: KEY },
    retryable: false,
  };
  await seed(local.client(), q2.syncDlqUrl, [envelopeMessage(applyEnvelope([sync(acme, { eventId: 'e-leak' })], leaky))]);
  await seed(local.client(), q2.ingressDlqUrl, [
    envelopeMessage(
      routeEnvelope(planEvent('e-leak-route', 'acme', 'pro'), { code: 'invalid_event', message: `token ${KEY}`, retryable: false }),
    ),
  ]);
  const f = [
    '--wait',
    '0',
    '--ingress-dlq-url',
    q2.ingressDlqUrl,
    '--sync-dlq-url',
    q2.syncDlqUrl,
    '--ingress-url',
    q2.ingressUrl,
    '--sync-url',
    q2.syncUrl,
  ];
  const commands = [
    ['list'],
    ['list', '--json'],
    ['inspect'],
    ['inspect', '--json'],
    ['replay', '--dry-run', '--no-nango'],
    ['replay', '--dry-run', '--json', '--no-nango'],
  ];
  // The key configured: the tool reads it to scrub it, wherever it appears.
  process.env.NANGO_SECRET_KEY = KEY;
  for (const argv of commands) {
    const r = await dlq([...argv, ...f]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr, argv.join(' ')).not.toContain(KEY);
    // Where the error text is shown at all.
    if (argv[0] === 'inspect' || argv.includes('--json')) expect(r.stdout).toContain('[REDACTED]');
  }
  delete process.env.NANGO_SECRET_KEY;
  // No key configured, in a fresh process that never saw it: what follows "Bearer" or an authorization header is still hidden.
  for (const argv of [['inspect'], ['list', '--json']]) {
    const child = spawnCli([...argv, ...f], { ...process.env, AWS_ENDPOINT_URL_SQS: local.endpoint, NANGO_SECRET_KEY: '' });
    expect(await child.exited).toBe(0);
    expect(child.stdout()).not.toContain(`Bearer ${KEY}`);
    expect(child.stdout()).not.toMatch(new RegExp(`authorization[^,]*${KEY}`, 'i'));
    expect(child.stdout()).toContain('Bearer [REDACTED]');
  }
  // Still there, unchanged: scrubbing is for display only.
  expect(await counts(local.client(), q2.syncDlqUrl)).toEqual({ visible: 1, hidden: 0, total: 1 });
});

it('a malformed or empty key is invalid_secret_key_format, without a request; not "cannot reach"', async () => {
  for (const bad of ['not-a-uuid-key', `${KEY}\n`, 'x'.repeat(36)]) {
    nango.reset();
    process.env.NANGO_SECRET_KEY = bad;
    const r = await dryRunOfAcme();
    expect(r.code).toBe(0);
    if (bad.trim() === KEY) {
      // Surrounding whitespace is trimmed: the key works.
      expect(r.stdout).toMatch(/plan\s+"pro"\s+"starter"/);
      continue;
    }
    expect(r.stdout).toMatch(/could not read the current metadata: invalid_secret_key_format .*not a UUID/);
    expect(r.stdout).not.toMatch(/cannot reach/);
    expect(nango.requests).toEqual([]);
  }
  delete process.env.NANGO_SECRET_KEY;
  const empty = await startSecretsManagerStandin({ secrets: { 'sync/empty': JSON.stringify({ secretKey: '', host: nango.url }) } });
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = empty.url;
  try {
    nango.reset();
    const r = await dlq(['replay', '--dry-run', '--json', '--stage', 'apply', '--nango-secret-id', 'sync/empty', ...flags()]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { items: { current: { ok: boolean; code: string; message: string } }[] };
    expect(j.items.map((i) => i.current)).toContainEqual(expect.objectContaining({ ok: false, code: 'invalid_secret_key_format' }));
    expect(j.items[0]!.current.message).toMatch(/empty/);
    expect(nango.requests).toEqual([]);
  } finally {
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets.url;
    await empty.close();
  }
});

it('reads an answer with a bound: an endless page ends the read, a huge error prints as a bounded excerpt', async () => {
  process.env.NANGO_SECRET_KEY = KEY;
  let sent = 0;
  const server = http.createServer((req, res) => {
    const mode = new URLSearchParams(req.url?.split('?')[1] ?? '').get('connectionId') === acme.connectionId ? 'endless' : 'huge';
    if (mode === 'huge') {
      // An error within the read's bound, but long: a 30,000-character message and 600 details.
      res.writeHead(400, { 'content-type': 'application/json' });
      const errors = Array.from({ length: 600 }, (_, i) => ({ path: ['x', i], message: 'bad' }));
      res.end(JSON.stringify({ error: { code: 'invalid_request', message: 'm'.repeat(30_000), errors } }));
      return;
    }
    // 200 and a body that never ends: the read must stop by itself, not wait for the end.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"connections":[');
    const chunk = `${JSON.stringify({ connection_id: 'x', provider_config_key: 'y', metadata: { pad: 'p'.repeat(60_000) } })},`;
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) sent += chunk.length;
      if (!res.destroyed) res.once('drain', pump);
    };
    res.on('close', () => res.destroy());
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const started = Date.now();
    const r = await dlq(['replay', '--dry-run', '--json', '--stage', 'apply', '--nango-host', url, ...flags()]);
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    // Read up to the tool's cap, not gigabytes.
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    const j = JSON.parse(r.stdout) as { items: { connectionId?: string; current?: { ok: boolean; code: string; message: string } }[] };
    const of = (id: string) => j.items.find((i) => i.connectionId === id)!.current!;
    expect(of(acme.connectionId)).toMatchObject({ ok: false, code: 'response_too_large' });
    expect(of(ghost.connectionId)).toMatchObject({ ok: false, code: 'invalid_request' });
    // The huge error is kept as a short excerpt and bounded details.
    expect(of(ghost.connectionId).message.length).toBeLessThanOrEqual(2_000);
    expect(r.stdout.length).toBeLessThan(32 * 1024);
  } finally {
    delete process.env.NANGO_SECRET_KEY;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}, 60_000);
