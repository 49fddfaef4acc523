/**
 * Issue 4's "done when", through the local pipeline (fauxqs, the stand-ins, the real route and apply
 * handlers behind the local event source): a sample for an unknown connection fails and lands in
 * the DLQ with Nango's error; `dlq list` shows it; the connection is created; `dlq replay` puts it
 * back and apply applies it; the DLQ is empty and the counts match. Also: a message SQS's own
 * redrive moved (a crashing function, no envelope) is replayed the same way, and a replay of a
 * still-broken event lands back in the DLQ instead of vanishing.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { VERSIONS_KEY } from '#commons/apply/ordering';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import { dlq } from './run-cli.ts';

let p: LocalPipeline;
/** While set, apply "crashes" (dies after the handler, before deleting) on batches holding this connection. */
let crashOn: string | undefined;

const sample = async (name: string) =>
  JSON.parse(await readFile(new URL(`../../events/samples/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const plain = (m: Record<string, unknown> | null | undefined) => {
  if (!m) return m;
  const { [VERSIONS_KEY]: _v, ...rest } = m;
  return rest;
};
const flags = () => [
  '--wait',
  '0',
  '--ingress-url',
  p.queues.ingressUrl,
  '--ingress-dlq-url',
  p.queues.ingressDlqUrl,
  '--sync-url',
  p.queues.syncUrl,
  '--sync-dlq-url',
  p.queues.syncDlqUrl,
];

beforeAll(async () => {
  p = await startLocalPipeline({
    // Small enough that a message crashing every time reaches the DLQ in seconds.
    maxReceiveCount: 2,
    apply: { functionTimeoutMs: 3000, crashAfter: (info) => crashOn !== undefined && info.records.some((r) => r.body.includes(crashOn!)) },
  });
});
afterAll(async () => {
  await p?.stop();
});

it('unknown connection -> DLQ -> connection created -> replay -> applied, DLQ empty, counts match', async () => {
  const unknown = await sample('92-unknown-connection.json');
  const invalid = await sample('90-invalid-unknown-type.json');
  await p.send([unknown, invalid, await sample('01-plan-changed-acme.json')]);
  await p.drain();

  // plan_changed targets salesforce and hubspot: two apply failures, and one route failure.
  const before = await p.dlq();
  const applyFailures = before.filter((d) => d.queue === 'patches-dlq');
  expect(applyFailures.map((d) => d.envelope?.error.code)).toEqual(['unknown_connection', 'unknown_connection']);
  expect(before.filter((d) => d.queue === 'ingress-dlq')).toHaveLength(1);

  const listed = await dlq(['list', ...flags()]);
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(/unknown_connection\s+2/);
  expect(listed.stdout).toMatch(/salesforce\s+initech\s+1/);
  expect(listed.stdout).toMatch(/hubspot\s+initech\s+1/);
  const listedJson = JSON.parse((await dlq(['list', '--json', ...flags()])).stdout) as { read: number };
  expect(listedJson.read).toBe(3);

  // A replay now would fail again, and the dry run says so: it reads Nango with the pipeline's own
  // key (NANGO_SECRET_ID through the Secrets Manager stand-in, as an operator's shell would).
  const early = await dlq(['replay', '--dry-run', '--stage', 'apply', ...flags()]);
  expect(early.code).toBe(0);
  expect(early.stdout.match(/Nango does not know this connection: the replay would fail again/g)).toHaveLength(2);
  expect((await p.dlq()).map((d) => d.messageId)).toEqual(before.map((d) => d.messageId));
  const sm = new SecretsManagerClient({ endpoint: p.secrets.url });
  const key = (await sm.send(new GetSecretValueCommand({ SecretId: p.secretId }))).SecretString!;
  sm.destroy();
  expect(key).toMatch(/^[0-9a-f-]{36}$/);
  expect(early.stdout + early.stderr).not.toContain(key);

  for (const providerConfigKey of ['salesforce', 'hubspot'])
    p.nango!.addConnection({ connectionId: 'initech', providerConfigKey, metadata: { seats: 3 } });

  const replay = await dlq(['replay', '--json', '--rate', '0', '--error-code', 'unknown_connection', ...flags()]);
  expect(replay.code).toBe(0);
  const r = JSON.parse(replay.stdout) as { selected: number; replayed: number; messagesSent: number; failed: unknown[] };
  expect(r).toMatchObject({ selected: 2, replayed: 2, messagesSent: 2, failed: [] });
  await p.drain();

  const detail = unknown.detail as { plan: string; changedAt: string };
  for (const pck of ['salesforce', 'hubspot']) {
    expect(plain(await p.metadataOf('initech', pck))).toEqual({ seats: 3, plan: detail.plan, planChangedAt: detail.changedAt });
    expect(p.nango!.applyHistory('initech', pck)).toHaveLength(1);
  }
  const after = await p.dlq();
  expect(after.filter((d) => d.queue === 'patches-dlq')).toEqual([]);
  // Counts match: what left the DLQ is what Nango applied; the unrelated route failure stayed put.
  expect(applyFailures.length).toBe(r.replayed);
  expect(after.filter((d) => d.queue === 'ingress-dlq').map((d) => d.messageId)).toEqual(
    before.filter((d) => d.queue === 'ingress-dlq').map((d) => d.messageId),
  );
});

it('a replay of a still-broken event comes back to the DLQ with its error, not lost', async () => {
  const before = (await p.dlq()).filter((d) => d.queue === 'ingress-dlq');
  expect(before).toHaveLength(1);
  const r = await dlq(['replay', '--rate', '0', '--stage', 'route', ...flags()]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/Replayed 1 of 1/);
  await p.drain();
  const after = (await p.dlq()).filter((d) => d.queue === 'ingress-dlq');
  expect(after).toHaveLength(1);
  expect(after[0]!.messageId).not.toBe(before[0]!.messageId);
  expect(after[0]!.envelope?.error.code).toBe(before[0]!.envelope?.error.code);
  expect(after[0]!.envelope?.events[0]?.id).toBe(before[0]!.envelope?.events[0]?.id);
});

it('a bare message moved by SQS redrive (apply crashed every time) is listed and replayed once apply is healthy', async () => {
  crashOn = 'umbrella';
  p.nango!.addConnection({ connectionId: 'umbrella', providerConfigKey: 'salesforce', metadata: {} });
  p.nango!.addConnection({ connectionId: 'umbrella', providerConfigKey: 'hubspot', metadata: {} });
  await p.send([
    {
      id: 'crash-1',
      source: 'app.billing',
      'detail-type': 'customer.plan_changed',
      time: '2026-11-21T08:00:00Z',
      detail: { customerId: 'umbrella', plan: 'enterprise', changedAt: '2026-11-21T08:00:00Z' },
    },
  ]);
  // Two receives (maxReceiveCount 2), each "crashing"; the third receive moves it to the DLQ.
  const deadline = Date.now() + 30_000;
  while ((await p.dlq()).filter((d) => d.queue === 'patches-dlq').length < 2) {
    if (Date.now() > deadline) throw new Error('the crashing messages never reached the DLQ');
    await new Promise((res) => setTimeout(res, 100));
  }
  crashOn = undefined;
  const bare = (await p.dlq()).filter((d) => d.queue === 'patches-dlq');
  expect(bare.every((d) => d.envelope === undefined)).toBe(true);

  const listed = JSON.parse((await dlq(['list', '--json', '--stage', 'apply', ...flags()])).stdout) as {
    summary: { byKind: unknown; byErrorCode: unknown };
  };
  expect(listed.summary.byKind).toEqual([{ key: 'bare', count: 2 }]);
  expect(listed.summary.byErrorCode).toEqual([{ key: 'sqs_redrive', count: 2 }]);

  const r = await dlq(['replay', '--json', '--rate', '0', '--stage', 'apply', '--error-code', 'sqs_redrive', ...flags()]);
  expect(JSON.parse(r.stdout)).toMatchObject({ selected: 2, replayed: 2 });
  await p.drain();
  expect((await p.dlq()).filter((d) => d.queue === 'patches-dlq')).toEqual([]);
  for (const pck of ['salesforce', 'hubspot'])
    expect(plain(await p.metadataOf('umbrella', pck))).toEqual({ plan: 'enterprise', planChangedAt: '2026-11-21T08:00:00Z' });
});
