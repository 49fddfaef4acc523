/**
 * The DLQ tool through the local pipeline (fauxqs, dynalite, the stand-ins, the real route, apply
 * and webhook handlers behind the local event source): real failures parked by the real handlers,
 * listed, fixed, replayed with the tool and applied. A replayed sync sends the LATEST desired state,
 * so replaying an old failure after a newer change writes the newer value, once. Also: a 404 for a
 * connection named by id; an invalid event that stays invalid comes back to the DLQ, never lost;
 * an event sent without id and time keeps the ones route resolved; a bare message moved by SQS's
 * redrive (a crashing function) is replayed the same way and writes nothing twice.
 */
import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLocalPipeline, type DlqMessage, type LocalPipeline } from '../../../local/pipeline.ts';
import { orgSubject } from './fixtures.ts';
import { dlq } from './run-cli.ts';

let p: LocalPipeline;
/** While set, apply "crashes" (dies after the handler, before deleting) on batches naming this connection. */
let crashOn: string | undefined;

const ACME_SF = { connectionId: '3b1f6a52-8e0c-4d1e-9f3a-5c2b7d9e1a01', providerConfigKey: 'salesforce' };
const ACME_HS = { connectionId: '3b1f6a52-8e0c-4d1e-9f3a-5c2b7d9e1a02', providerConfigKey: 'hubspot' };
const SPECIAL = { connectionId: 'acme/eu x@y.com', providerConfigKey: 'salesforce' };

const sample = async (name: string) =>
  JSON.parse(await readFile(new URL(`../../../events/samples/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
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
const inQueue = async (queue: DlqMessage['queue']) => (await p.dlq()).filter((d) => d.queue === queue);
const writes = (t: { connectionId: string; providerConfigKey: string }) => p.nango!.applyHistory(t.connectionId, t.providerConfigKey);

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

it('refused by Nango -> sync DLQ; a newer change while parked; fixed; replaying the OLD failure writes the NEWER value, once', async () => {
  // The key lacks the update scope: every PATCH gets Nango's 403, a permanent error.
  p.nango!.setFault((r) =>
    r.method === 'PATCH'
      ? { kind: 'status', status: 403, code: 'forbidden', message: 'missing scope environment:connections:update' }
      : undefined,
  );
  const first = await sample('01-plan-changed-acme.json');
  await p.send([first]);
  await p.drain();

  // plan_changed reaches acme's salesforce and hubspot connections: two syncs, both parked.
  const parked = await inQueue('sync-dlq');
  expect(parked.map((d) => [d.envelope?.error.code, d.envelope?.error.status])).toEqual([
    ['forbidden', 403],
    ['forbidden', 403],
  ]);
  expect(new Set(parked.map((d) => d.envelope?.target?.connectionId))).toEqual(new Set([ACME_SF.connectionId, ACME_HS.connectionId]));
  for (const d of parked) {
    expect(d.envelope).toMatchObject({ v: 2, stage: 'apply', subjects: [orgSubject('acme')], events: [{ id: first.id }] });
    expect(d.envelope!.keys).toEqual(expect.arrayContaining(['plan', 'planChangedAt']));
  }
  expect(p.nango!.metadataOf(ACME_SF.connectionId, 'salesforce')).toEqual({ plan: 'starter', seats: 10 });

  const listed = await dlq(['list', ...flags()]);
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(/forbidden\s+2/);
  expect(listed.stdout).toMatch(new RegExp(`salesforce\\s+${ACME_SF.connectionId}\\s+1`));
  expect(listed.stdout).toMatch(new RegExp(`hubspot\\s+${ACME_HS.connectionId}\\s+1`));

  // The dry run reads Nango with the pipeline's own key (NANGO_SECRET_ID through the Secrets Manager
  // stand-in, as an operator's shell would) and shows what Nango holds now; it never prints the key.
  const early = await dlq(['replay', '--dry-run', '--stage', 'apply', ...flags()]);
  expect(early.code).toBe(0);
  expect(early.stdout).toMatch(/current metadata \(Nango\):[\s\S]*plan\s+"starter"/);
  const sm = new SecretsManagerClient({ endpoint: p.secrets.url });
  const key = (await sm.send(new GetSecretValueCommand({ SecretId: p.secretId }))).SecretString!;
  sm.destroy();
  expect(key).toMatch(/^[0-9a-f-]{36}$/);
  expect(early.stdout + early.stderr).not.toContain(key);
  expect((await inQueue('sync-dlq')).map((d) => d.messageId)).toEqual(parked.map((d) => d.messageId));

  // Billing moves acme on while the syncs sit in the DLQ; Nango still refuses, so these park too.
  const newer = {
    id: 'plan-newer',
    source: 'app.billing',
    'detail-type': 'customer.plan_changed',
    time: '2026-11-20T09:30:00Z',
    detail: { organizationId: 'acme', plan: 'enterprise', changedAt: '2026-11-20T09:30:00.000Z' },
  };
  await p.send([newer]);
  await p.drain();
  expect(await inQueue('sync-dlq')).toHaveLength(4);
  const desired = await p.state.readDesired(orgSubject('acme'));
  expect(desired.find((d) => d.key === 'plan')?.value).toBe('enterprise');

  // The fix: the scope is granted. Replay only the two OLD failures (the events of "pro").
  p.nango!.setFault(undefined);
  const patchesBefore = p.nango!.stats().patches;
  const old = await dlq(['replay', '--json', '--rate', '0', ...parked.flatMap((d) => ['--id', d.messageId]), ...flags()]);
  expect(old.code).toBe(0);
  expect(JSON.parse(old.stdout)).toMatchObject({ selected: 2, replayed: 2, messagesSent: 2, failed: [] });
  await p.drain();
  for (const t of [ACME_SF, ACME_HS]) {
    const w = writes(t);
    expect(w).toHaveLength(1);
    expect(w[0]!.patch).toEqual({ plan: 'enterprise', planChangedAt: '2026-11-20T09:30:00.000Z' });
  }
  expect(p.nango!.metadataOf(ACME_SF.connectionId, 'salesforce')).toEqual({
    plan: 'enterprise',
    seats: 10,
    planChangedAt: '2026-11-20T09:30:00.000Z',
  });
  expect(p.nango!.stats().patches).toBe(patchesBefore + 2);

  // The newer failures replay to nothing: the connections already hold the latest state.
  const rest = await dlq(['replay', '--json', '--rate', '0', '--stage', 'apply', ...flags()]);
  expect(JSON.parse(rest.stdout)).toMatchObject({ selected: 2, replayed: 2, failed: [] });
  await p.drain();
  expect(p.nango!.stats().patches).toBe(patchesBefore + 2);
  expect(await inQueue('sync-dlq')).toEqual([]);
  expect(await inQueue('ingress-dlq')).toEqual([]);
});

it('404 for a connection named by id -> parked; dry run says it would fail; the connection is created (and seeded); replay is a no-op', async () => {
  const settings = await sample('04-settings-changed-special-id.json');
  await p.send([settings]);
  await p.drain();
  expect(p.nango!.metadataOf(SPECIAL.connectionId, 'salesforce')).toMatchObject({ region: 'eu' });

  // The connection is deleted in Nango (no webhook for that); the index still names it.
  p.nango!.removeConnection(SPECIAL.connectionId, 'salesforce');
  const moved = {
    id: 'settings-8',
    source: 'app.accounts',
    'detail-type': 'customer.settings_changed',
    time: '2026-11-20T10:40:00Z',
    detail: { customerId: SPECIAL.connectionId, region: 'ap', sequence: 8 },
  };
  await p.send([moved]);
  await p.drain();
  const parked = await inQueue('sync-dlq');
  expect(parked).toHaveLength(1);
  expect(parked[0]!.envelope).toMatchObject({
    error: { status: 404, code: 'unknown_connection' },
    target: SPECIAL,
    subjects: ['connection:acme%2Feu%20x%40y.com'],
    events: [{ id: 'settings-8' }],
  });

  const early = await dlq(['replay', '--dry-run', '--stage', 'apply', ...flags()]);
  expect(early.code).toBe(0);
  expect(early.stdout).toMatch(/Nango does not know this connection: the replay would fail again/);

  // The customer connects again: the auth webhook seeds the connection with the latest state.
  p.nango!.createConnection({ ...SPECIAL, provider: 'salesforce' });
  await p.drain();
  expect(p.nango!.metadataOf(SPECIAL.connectionId, 'salesforce')).toEqual({ region: 'ap', flags: { betaSync: true, piiRedaction: true } });
  const patches = p.nango!.stats().patches;

  const r = await dlq(['replay', '--json', '--rate', '0', '--error-code', 'unknown_connection', ...flags()]);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ selected: 1, replayed: 1, messagesSent: 1, failed: [] });
  await p.drain();
  // Applied means in step: nothing left to send, so no second write.
  expect(p.nango!.stats().patches).toBe(patches);
  expect(await inQueue('sync-dlq')).toEqual([]);
});

it('route DLQ: an invalid event replayed comes back with the same error; one sent without id and time keeps what route resolved', async () => {
  const invalid = await sample('90-invalid-unknown-type.json');
  const noIdNoTime = { source: 'app.accounts', 'detail-type': 'customer.status_changed', detail: { organizationId: 'acme', status: 'x' } };
  const [, sent] = await p.send([invalid, noIdNoTime]);
  await p.drain();
  const before = await inQueue('ingress-dlq');
  expect(before).toHaveLength(2);
  const parkedBare = before.find((d) => d.envelope?.events[0]?.detailType === 'customer.status_changed')!;
  const resolved = JSON.parse(parkedBare.envelope!.originals[0]!.body) as { id: string; time: string };
  expect(resolved.id).toBe(sent!.messageId);
  expect(Date.parse(resolved.time)).toBeGreaterThan(Date.now() - 60_000);
  expect(parkedBare.envelope!.events[0]).toMatchObject({ id: resolved.id, time: resolved.time });

  const listed = await dlq(['list', '--stage', 'route', ...flags()]);
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(/unknown_event_type\s+1/);
  expect(listed.stdout).toMatch(/invalid_detail\s+1/);

  const r = await dlq(['replay', '--json', '--rate', '0', '--stage', 'route', ...flags()]);
  // The tool did its part (sent, then deleted); whether route accepts it is route's call.
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ selected: 2, replayed: 2, messagesSent: 2, failed: [] });
  await p.drain();
  const after = await inQueue('ingress-dlq');
  expect(after).toHaveLength(2);
  expect(after.map((d) => d.messageId).filter((id) => before.some((b) => b.messageId === id))).toEqual([]);
  const key = (d: DlqMessage) => `${d.envelope?.events[0]?.id} ${d.envelope?.events[0]?.time} ${d.envelope?.error.code}`;
  expect(after.map(key).sort()).toEqual(before.map(key).sort());
  // Not re-stamped: the body parked again is the one parked first, bounded by when that was parked.
  const again = after.find((d) => d.envelope?.events[0]?.id === resolved.id)!;
  const { receivedAt, ...rest } = JSON.parse(again.envelope!.originals[0]!.body) as { receivedAt?: number };
  expect(rest).toEqual(JSON.parse(parkedBare.envelope!.originals[0]!.body));
  expect(receivedAt).toBeLessThanOrEqual(Date.parse(parkedBare.envelope!.lastFailureAt));

  // Listing again shows them, with their codes: still the operator's to fix (or purge).
  const still = JSON.parse((await dlq(['list', '--json', '--stage', 'route', ...flags()])).stdout) as {
    matched: number;
    items: { errorCode: string; eventIds: string[] }[];
  };
  expect(still.matched).toBe(2);
  expect(still.items.map((i) => i.eventIds[0]).sort()).toEqual([invalid.id as string, resolved.id].sort());
  const purged = await dlq(['purge', '--yes', '--stage', 'route', ...flags().slice(2)]);
  expect(purged.code).toBe(0);
});

it('a bare message moved by SQS redrive (apply crashed every time) is listed and replayed once apply is healthy', async () => {
  crashOn = 'settings-9';
  // Past apply's burst window after the previous test's writes to this connection: the change is
  // sent at once (and then crashes), not left to a settle sync that would name the event too.
  await new Promise((res) => setTimeout(res, 2_100));
  const writesBefore = writes(SPECIAL).length;
  await p.send([
    {
      id: 'settings-9',
      source: 'app.accounts',
      'detail-type': 'customer.settings_changed',
      time: '2026-11-20T10:50:00Z',
      detail: { customerId: SPECIAL.connectionId, region: 'us', sequence: 9 },
    },
  ]);
  // Two receives (maxReceiveCount 2), each "crashing"; the third receive moves it to the DLQ.
  const deadline = Date.now() + 30_000;
  while ((await inQueue('sync-dlq')).length < 1) {
    if (Date.now() > deadline) throw new Error('the crashing message never reached the DLQ');
    await new Promise((res) => setTimeout(res, 100));
  }
  await p.drain();
  crashOn = undefined;
  const bare = await inQueue('sync-dlq');
  expect(bare).toHaveLength(1);
  expect(bare[0]!.envelope).toBeUndefined();

  const listed = JSON.parse((await dlq(['list', '--json', '--stage', 'apply', ...flags()])).stdout) as {
    summary: { byKind: unknown; byErrorCode: unknown };
    items: { connectionId: string; eventIds: string[] }[];
  };
  expect(listed.summary.byKind).toEqual([{ key: 'bare', count: 1 }]);
  expect(listed.summary.byErrorCode).toEqual([{ key: 'sqs_redrive', count: 1 }]);
  expect(listed.items[0]!.connectionId).toBe(SPECIAL.connectionId);

  const r = await dlq(['replay', '--json', '--rate', '0', '--stage', 'apply', '--error-code', 'sqs_redrive', ...flags()]);
  expect(JSON.parse(r.stdout)).toMatchObject({ selected: 1, replayed: 1 });
  await p.drain();
  expect(await inQueue('sync-dlq')).toEqual([]);
  // Apply took the replayed body and finished it (deleted, no crash this time). It is the same sync
  // without its queue time: apply sends what it names at once, never leaving it to a later sync.
  const { queuedAt, ...rest } = JSON.parse(bare[0]!.body) as { queuedAt?: number };
  expect(queuedAt).toBeGreaterThan(0);
  expect(p.syncs().filter((x) => x.body === JSON.stringify(rest) && x.deleted)).toHaveLength(1);
  // The crash came after the write: the connection was in step already, and nothing was written twice.
  expect(p.nango!.metadataOf(SPECIAL.connectionId, 'salesforce')).toEqual({ region: 'us', flags: { betaSync: true, piiRedaction: true } });
  expect(writes(SPECIAL).length).toBe(writesBefore + 1);
});
