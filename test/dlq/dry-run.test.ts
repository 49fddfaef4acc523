/**
 * `replay --dry-run`: what would be sent, beside each connection's current metadata read from the
 * Nango stand-in (GET /connections/{id}, id percent-encoded), the key taken from NANGO_SECRET_KEY or
 * Secrets Manager and never printed; nothing sent, nothing removed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../../local/standins/sqs.ts';
import { startNangoStandin, type NangoStandin } from '../../local/standins/nango.ts';
import { startSecretsManagerStandin, type SecretsManagerStandin } from '../../local/standins/secrets-manager.ts';
import { applyEnvelope, envelopeMessage, patchMessage, planEvent, routeEnvelope } from './fixtures.ts';
import { counts, seed } from './queue-tools.ts';
import { dlq } from './run-cli.ts';

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
  await seed(local.client(), q.patchesDlqUrl, [
    envelopeMessage(
      applyEnvelope([patchMessage(acme, { plan: 'starter', seats: 7, tier: 'gold', region: 'eu' }, 'e-acme', '2026-11-20T12:00:00.000Z')]),
    ),
    envelopeMessage(applyEnvelope([patchMessage(ghost, { plan: 'free' }, 'e-ghost')])),
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

const flags = () => [
  '--wait',
  '0',
  '--ingress-url',
  q.ingressUrl,
  '--ingress-dlq-url',
  q.ingressDlqUrl,
  '--sync-url',
  q.patchesUrl,
  '--sync-dlq-url',
  q.patchesDlqUrl,
];

it('shows each patch beside the current metadata, key by key, and changes nothing', async () => {
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
    expect(gets.map((g) => g.path).sort()).toEqual(['/connections/acme%2Feu%20x%40y.com', '/connections/initech']);
    expect(gets.find((g) => g.path.startsWith('/connections/acme'))!.query).toEqual({ provider_config_key: 'salesforce' });
    expect(nango.requests.filter((x) => x.method !== 'GET')).toEqual([]);
    expect(await counts(local.client(), q.patchesDlqUrl)).toEqual({ visible: 2, hidden: 0, total: 2 });
    expect(await counts(local.client(), q.ingressDlqUrl)).toEqual({ visible: 1, hidden: 0, total: 1 });
    expect((await counts(local.client(), q.patchesUrl)).total + (await counts(local.client(), q.ingressUrl)).total).toBe(0);
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

  const none = await dlq(['replay', '--dry-run', '--stage', 'apply', ...flags()]);
  expect(none.code).toBe(0);
  expect(none.stdout).toMatch(/No Nango key: set NANGO_SECRET_KEY/);
  expect(none.stdout).toMatch(/plan\s+"starter"/);

  const badSecret = await dlq(['replay', '--dry-run', '--stage', 'apply', '--nango-secret-id', 'no/such/secret', ...flags()]);
  expect(badSecret.code).not.toBe(0);
  expect(badSecret.stderr).toMatch(/reading the Nango key from Secrets Manager \(no\/such\/secret\)/);
  expect(await counts(local.client(), q.patchesDlqUrl)).toEqual({ visible: 2, hidden: 0, total: 2 });
});
