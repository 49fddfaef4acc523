/**
 * The real route, apply and webhook handlers end to end: events through fauxqs, state in dynalite,
 * the key through the Secrets Manager stand-in, every Nango call through undici to the stand-in.
 * Connections are named by UUIDs and found by their `organization_id` tag, or by id.
 */
import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { envelopeBytes, MAX_ENVELOPE_BYTES } from '#commons/dlq-envelope';
import { MAX_ERRORS_JSON } from '#commons/failure';
import { connectionKey, syncMessage, type Target } from '#commons/sync/message';
import { makeContext } from '../../local/event-source.ts';
import { startLocalPipeline, type DlqMessage, type LocalPipeline } from '../../local/pipeline.ts';
import type { SeedConnection } from '../../local/standins/nango.ts';
import { isoIn, planChanged, seatsChanged, settingsChanged, sqsRecord, statusChanged } from '../support/events.ts';
import { captureLogs, type Logs } from '../support/logs.ts';

const KEY = randomUUID();
const org = (o: string, pck: string, n: number): SeedConnection & Target => ({
  connectionId: `6f1c2b7e-0000-4000-8000-${String(n).padStart(12, '0')}`,
  providerConfigKey: pck,
  provider: pck,
  tags: { organization_id: o, end_user_id: `u-${n}` },
});
const ACME = [org('acme', 'salesforce', 1), org('acme', 'hubspot', 2), org('acme', 'zendesk', 3)];
const GONE = org('gone', 'salesforce', 4);
const ROT = org('rot', 'salesforce', 5);
const ECHO = [org('echo', 'salesforce', 6), org('echo', 'hubspot', 7)];
const PERM = [org('perm', 'salesforce', 8), org('perm', 'hubspot', 9)];
const RL = org('rl', 'zendesk', 10);
const BURST = [org('burst', 'salesforce', 11), org('burst', 'hubspot', 12)];
const CUST = [
  { connectionId: 'cust-1', providerConfigKey: 'salesforce', provider: 'salesforce' },
  { connectionId: 'cust-1', providerConfigKey: 'hubspot', provider: 'hubspot' },
  { connectionId: 'cust-2', providerConfigKey: 'salesforce', provider: 'salesforce' },
];
const CONNECTIONS: SeedConnection[] = [...ACME, GONE, ROT, ...ECHO, ...PERM, RL, ...BURST, ...CUST];

let p: LocalPipeline;
/** Every handler sends what it causes before its message is deleted: a short quiet period is enough. */
const drain = () => p.drain({ quietMs: 100 });
let logs: Logs;
const t = (ms = 0) => isoIn(-60_000 + ms);
const patchesTo = (c: Target, from = 0) =>
  p.nango!.requests.slice(from).filter((r) => {
    const b = r.body as { connection_id?: unknown; provider_config_key?: unknown } | undefined;
    return r.method === 'PATCH' && b?.connection_id === c.connectionId && b?.provider_config_key === c.providerConfigKey;
  });
const dlqOf = async (queue: DlqMessage['queue'], pred: (d: DlqMessage) => boolean) =>
  (await p.dlq()).filter((d) => d.queue === queue && pred(d));
const forTarget = (c: Target) => (d: DlqMessage) =>
  d.envelope?.target?.connectionId === c.connectionId && d.envelope.target.providerConfigKey === c.providerConfigKey;

beforeAll(async () => {
  logs = captureLogs([KEY]);
  p = await startLocalPipeline({
    nangoSecretKey: KEY,
    connections: CONNECTIONS,
    env: { POWERTOOLS_LOG_LEVEL: 'DEBUG', INDEX_EMPTY_TTL_SECONDS: '2' },
  });
});
beforeEach(() => p.nango!.setFault(undefined));
afterAll(async () => {
  await p?.stop();
  logs?.stop();
});

describe('tag-addressed and id-addressed events', () => {
  it("reach every connection with the tags, each key only in its integrations' scope", async () => {
    const at = t();
    await p.send([planChanged('acme', 'pro', at, { id: 'acme-plan' }), seatsChanged('acme', 42, at, { id: 'acme-seats' })]);
    await drain();
    const [sf, hs, zd] = ACME.map((c) => p.metadataOf(c.connectionId, c.providerConfigKey));
    expect(await sf).toEqual({ plan: 'pro', planChangedAt: at, seats: 42, seatsChangedAt: at });
    expect(await hs).toEqual({ plan: 'pro', planChangedAt: at, seats: 42, seatsChangedAt: at });
    // plan_changed names salesforce and hubspot only.
    expect(await zd).toEqual({ seats: 42, seatsChangedAt: at });
    // Nothing reached another customer.
    expect(p.nango!.metadataOf(PERM[0]!.connectionId, 'salesforce')).toBeNull();
    expect((await p.state.readIndex('tags:organization_id=acme'))?.connections).toHaveLength(3);
  });

  it('reaches connections by id, limited to the integrations the event names', async () => {
    await p.send([settingsChanged('cust-1', { region: 'eu', flags: { beta: true }, integrations: ['hubspot', 'hubspot'], sequence: 3 })]);
    await drain();
    expect(await p.metadataOf('cust-1', 'hubspot')).toEqual({ region: 'eu', flags: { beta: true } });
    expect(await p.metadataOf('cust-1', 'salesforce')).toBeNull();
    expect(await p.metadataOf('cust-2', 'salesforce')).toBeNull();
  });

  it('a newer value for one integration leaves the value another integration was given', async () => {
    // region=eu for hubspot (sequence 10), then region=ap for salesforce (11), sent together: each keeps its own.
    await p.send([
      settingsChanged('cust-1', { region: 'eu', integrations: ['hubspot'], sequence: 10 }),
      settingsChanged('cust-1', { region: 'ap', integrations: ['salesforce'], sequence: 11 }),
    ]);
    await drain();
    expect(await p.metadataOf('cust-1', 'hubspot')).toMatchObject({ region: 'eu' });
    expect(await p.metadataOf('cust-1', 'salesforce')).toMatchObject({ region: 'ap' });
  });

  it('PATCHes a connection once per time it was dirty, with no GET and no bookkeeping key', async () => {
    // Indexed by now: the index answers, Nango is only PATCHed.
    const from = p.nango!.requests.length;
    const base = Date.now() - 60_000;
    const ts = (ms: number) => new Date(base + ms).toISOString();
    const at = ts(1_000);
    await p.send([
      seatsChanged('burst', 1, ts(1), { id: 'b1' }),
      seatsChanged('burst', 2, ts(2), { id: 'b2' }),
      seatsChanged('burst', 3, at, { id: 'b3' }),
      planChanged('burst', 'free', ts(3), { id: 'b4' }),
    ]);
    await drain();
    for (const c of BURST) {
      // One SendMessageBatch, one route batch, one merged sync per connection: one PATCH.
      expect(patchesTo(c, from), c.providerConfigKey).toHaveLength(1);
      expect(await p.metadataOf(c.connectionId, c.providerConfigKey)).toMatchObject({ seats: 3, seatsChangedAt: at, plan: 'free' });
    }
    // The same sync again (a redelivery or a replay) finds nothing new: no call at all.
    const again = p.nango!.requests.length;
    const target = BURST[0]!;
    await p.sqs.send(
      new SendMessageCommand({
        QueueUrl: p.queues.syncUrl,
        MessageBody: JSON.stringify(syncMessage(target, ['tags:organization_id=burst'], 'replay')),
        MessageGroupId: connectionKey(target),
        MessageDeduplicationId: randomUUID(),
      }),
    );
    // An older seats figure is stale at route: no sync either.
    await p.send([seatsChanged('burst', 0, ts(500), { id: 'b-old' })]);
    await drain();
    expect(p.nango!.requests.slice(again)).toEqual([]);
    expect(p.syncs().some((s) => s.message?.reason === 'replay' && s.deleted)).toBe(true);
  });
});

describe('invalid events', () => {
  it('are parked in the ingress DLQ at once, with the id and time route resolved', async () => {
    const [sent] = await p.send([
      { source: 'app.billing', 'detail-type': 'customer.plan_changed', detail: { organizationId: 'acme', plan: 'x' } },
    ]);
    const [unknown] = await p.send([
      { id: 'unknown-type', source: 'app.billing', 'detail-type': 'customer.deleted', time: t(), detail: {} },
    ]);
    await drain();
    const parked = await dlqOf('ingress-dlq', (d) => d.envelope?.originals[0]?.messageId === sent!.messageId);
    expect(parked).toHaveLength(1);
    const env = parked[0]!.envelope!;
    expect(env).toMatchObject({ stage: 'route', attempts: 1, error: { code: 'invalid_detail', retryable: false } });
    const body = JSON.parse(env.originals[0]!.body) as { id: string; time: string };
    // A replay carries the resolved id and time: it cannot be re-stamped as new.
    expect(body.id).toBe(sent!.messageId);
    expect(env.events[0]).toMatchObject({ id: sent!.messageId, time: body.time });
    expect(Date.parse(body.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(parked[0]!.attributes).toMatchObject({ stage: 'route', errorCode: 'invalid_detail', eventType: 'customer.plan_changed' });
    const u = await dlqOf('ingress-dlq', (d) => d.envelope?.events[0]?.id === unknown!.eventId);
    expect(u[0]?.envelope?.error.code).toBe('unknown_event_type');
  });

  it('with thousands of schema issues: a bounded error with a count, a small envelope, a log line under 256 KB', async () => {
    // 15,000 keys that fail both the key pattern and the value type: 30,000 issues in a 140 KB event.
    const flags = Object.fromEntries(Array.from({ length: 15_000 }, (_, i) => [String(i), 1]));
    const [sent] = await p.send([settingsChanged('cust-1', { flags, sequence: 9 }, { id: 'many-issues' })]);
    expect(Buffer.byteLength(sent!.body)).toBeLessThan(256 * 1024);
    await drain();
    const [parked] = await dlqOf('ingress-dlq', (d) => d.envelope?.events[0]?.id === 'many-issues');
    const env = parked!.envelope!;
    expect(env.error.code).toBe('invalid_detail');
    expect(env.error.message.length).toBeLessThan(2_100);
    const errors = JSON.stringify(env.error.errors);
    expect(errors.length).toBeLessThanOrEqual(MAX_ERRORS_JSON);
    // The rest are counted, not dropped silently.
    expect(errors).toMatch(/"truncated":\d{5}|\d{5} entries/);
    expect(env.originals[0]!.body).toBe(sent!.body);
    expect(envelopeBytes(env)).toBeLessThan(Math.min(MAX_ENVELOPE_BYTES, Buffer.byteLength(sent!.body) + 64 * 1024));
    const rejected = logs.records().filter((r) => r.correlation_id === 'many-issues');
    expect(rejected.map((r) => r.message)).toContain('event rejected');
    expect(Math.max(...rejected.map((r) => JSON.stringify(r).length))).toBeGreaterThan(1_000);
    expect(logs.maxLineBytes(), logs.longest()).toBeLessThan(256 * 1024);
  });
});

describe("Nango's answers", () => {
  it('a connection gone from Nango (404): a tag subject drops it from the index and parks nothing', async () => {
    await p.send([statusChanged('gone', 'active', { id: 'gone-1', time: t() })]);
    await drain();
    expect((await p.state.readIndex('tags:organization_id=gone'))?.connections).toEqual([
      { connectionId: GONE.connectionId, providerConfigKey: 'salesforce' },
    ]);
    p.nango!.removeConnection(GONE.connectionId, 'salesforce');
    const target = { connectionId: GONE.connectionId, providerConfigKey: 'salesforce' };
    expect(Object.keys((await p.state.readApplied(target)).keys)).toContain('status');
    await p.send([statusChanged('gone', 'suspended', { id: 'gone-2', time: t(1) })]);
    await drain();
    expect(patchesTo(GONE).map((r) => r.status)).toEqual([200, 404]);
    expect((await p.state.readIndex('tags:organization_id=gone'))?.connections).toEqual([]);
    // What it was sent is forgotten: re-created with the same id, it would get every key again.
    expect(await p.state.readApplied(target)).toEqual({ keys: {}, deferredSince: {}, sources: {}, bytes: 0 });
    expect(await dlqOf('sync-dlq', forTarget(GONE))).toEqual([]);
    // Its desired state stays, for when the customer connects again.
    expect((await p.state.readDesired('tags:organization_id=gone')).find((k) => k.key === 'status')?.value).toBe('suspended');
  });

  it("a connection named by id that is gone (404) is parked with Nango's StdError", async () => {
    const target = { connectionId: 'cust-2', providerConfigKey: 'salesforce' };
    await p.send([settingsChanged('cust-2', { region: 'us', sequence: 1 })]);
    await drain();
    p.nango!.removeConnection('cust-2', 'salesforce');
    await p.send([settingsChanged('cust-2', { region: 'ap', sequence: 2 }, { id: 'cust-2-gone' })]);
    await drain();
    const [parked] = await dlqOf('sync-dlq', forTarget(target));
    expect(parked?.envelope).toMatchObject({
      stage: 'apply',
      error: { status: 404, code: 'unknown_connection', retryable: false },
      subjects: ['connection:cust-2'],
      keys: ['region'],
    });
    expect(parked?.envelope?.error.message).toMatch(/cust-2|connection/i);
    expect(parked?.attributes).toMatchObject({ stage: 'apply', errorCode: 'unknown_connection', connectionId: 'cust-2' });
    expect((await p.state.readIndex('connection:cust-2'))?.connections).toEqual([]);
  });

  it('429 with Retry-After: applied once the wait has passed', async () => {
    let first: number | undefined;
    let retried: number | undefined;
    p.nango!.setFault((r) => {
      if (r.method !== 'PATCH' || r.connectionId !== RL.connectionId) return undefined;
      if (first === undefined) {
        first = Date.now();
        return { kind: 'rateLimit', retryAfter: 1 };
      }
      retried ??= Date.now();
      return undefined;
    });
    await p.send([seatsChanged('rl', 77, t(), { id: 'rl-1' })]);
    await drain();
    expect(await p.metadataOf(RL.connectionId, 'zendesk')).toMatchObject({ seats: 77 });
    expect(retried! - first!).toBeGreaterThanOrEqual(950);
    expect(patchesTo(RL).map((r) => r.status)).toEqual([429, 200]);
    expect(await dlqOf('sync-dlq', forTarget(RL))).toEqual([]);
  });

  it.each([
    [400, 'invalid_body'],
    [403, 'forbidden'],
  ])("a permanent %i is parked with Nango's error, and later syncs of the connection go on", async (status, code) => {
    const c = status === 400 ? PERM[0]! : PERM[1]!;
    const from = p.nango!.requests.length;
    p.nango!.setFault((r) =>
      r.method === 'PATCH' && r.connectionId === c.connectionId && r.providerConfigKey === c.providerConfigKey
        ? { kind: 'status', status, code, message: `refused with ${code}` }
        : undefined,
    );
    await p.send([seatsChanged('perm', status, t(status), { id: `perm-${status}` })]);
    await drain();
    const [parked] = await dlqOf('sync-dlq', forTarget(c));
    expect(parked?.envelope?.error).toEqual({ status, code, message: `refused with ${code}`, retryable: false });
    expect(parked?.envelope?.events.map((e) => e.id)).toEqual([`perm-${status}`]);
    // One attempt: a permanent answer is not retried.
    expect(patchesTo(c, from).map((r) => r.status)).toEqual([status]);
    p.nango!.setFault(undefined);
    await p.send([seatsChanged('perm', status + 1, t(status + 1))]);
    await drain();
    expect(await p.metadataOf(c.connectionId, c.providerConfigKey)).toMatchObject({ seats: status + 1 });
  });

  it('a second 401 (the key was rotated at Nango, not in Secrets Manager) is parked', async () => {
    await p.send([seatsChanged('rot', 1, t())]);
    await drain();
    const from = p.nango!.requests.length;
    p.nango!.setSecretKey(randomUUID());
    try {
      await p.send([seatsChanged('rot', 2, t(1), { id: 'rot-401' })]);
      await drain();
    } finally {
      p.nango!.setSecretKey(KEY);
    }
    const [parked] = await dlqOf('sync-dlq', forTarget(ROT));
    expect(parked?.envelope?.error).toMatchObject({ status: 401, retryable: false });
    // The first 401 re-read the key and tried once more.
    // (A refused request is recorded without its body: only the route tells which it was.)
    expect(p.nango!.requests.slice(from).map((r) => `${r.method} ${r.status}`)).toEqual(['PATCH 401', 'PATCH 401']);
  });

  it('a server echoing the Authorization header: parked, and the key is scrubbed everywhere', async () => {
    p.nango!.setFault((r) => {
      if (r.method !== 'PATCH') return undefined;
      if (r.connectionId === ECHO[0]!.connectionId) return { kind: 'echoAuth', format: 'json' };
      if (r.connectionId === ECHO[1]!.connectionId) return { kind: 'echoAuth', format: 'html' };
      return undefined;
    });
    await p.send([seatsChanged('echo', 5, t())]);
    await drain();
    const parked = await dlqOf('sync-dlq', (d) => ECHO.some((c) => forTarget(c)(d)));
    expect(parked.map((d) => d.envelope?.error.status)).toEqual([400, 400]);
    expect(parked.map((d) => d.envelope?.error.code).sort()).toEqual(['invalid_header', 'non_json_response']);
    expect(JSON.stringify(parked)).toContain('[REDACTED]');
  });
});

describe('a subject with no connection yet', () => {
  it('keeps its state, and the connection is seeded when Nango reports it (webhook)', async () => {
    const at = t();
    await p.send([planChanged('initech', 'enterprise', at), seatsChanged('initech', 250, at)]);
    await drain();
    expect([...new Set((await p.state.readDesired('tags:organization_id=initech')).map((k) => k.key))].sort()).toEqual([
      'plan',
      'planChangedAt',
      'seats',
      'seatsChangedAt',
    ]);
    const created = { ...org('initech', 'hubspot', 20) };
    p.nango!.createConnection(created);
    await drain();
    expect(await p.metadataOf(created.connectionId, 'hubspot')).toEqual({
      plan: 'enterprise',
      planChangedAt: at,
      seats: 250,
      seatsChangedAt: at,
    });
    expect(p.webhook.deliveries().map((d) => d.status)).toEqual([200]);
  });
});

describe('a connection created without its webhook reaching us', () => {
  it('is found once the empty lookup expires, and receives every key its subject lacks', async () => {
    const late = org('latecomer', 'salesforce', 21);
    const base = Date.now() - 60_000;
    await p.send([planChanged('latecomer', 'pro', new Date(base).toISOString())]);
    await drain();
    const fetchedAt = (await p.state.readIndex('tags:organization_id=latecomer'))?.fetchedAt ?? 0;
    p.nango!.addConnection(late);
    // Within the empty answer's lifetime (2 s here) the index is trusted: no lookup, no sync.
    expect(Date.now() - fetchedAt).toBeLessThan(1_500);
    await p.send([seatsChanged('latecomer', 3, new Date(base + 1).toISOString())]);
    await drain();
    expect(patchesTo(late)).toEqual([]);
    await new Promise((r) => setTimeout(r, Math.max(0, fetchedAt + 2_100 - Date.now())));
    const at = new Date(base + 2).toISOString();
    await p.send([seatsChanged('latecomer', 4, at)]);
    await drain();
    expect(patchesTo(late)).toHaveLength(1);
    expect(await p.metadataOf(late.connectionId, 'salesforce')).toEqual({
      plan: 'pro',
      planChangedAt: new Date(base).toISOString(),
      seats: 4,
      seatsChangedAt: at,
    });
  });
});

describe('partial batch responses (handlers invoked directly)', () => {
  const sync = (id: string, c: Target & { tags?: Record<string, string> }, reason: 'repair' | 'change' = 'repair') =>
    sqsRecord(id, JSON.stringify(syncMessage(c, [`tags:organization_id=${c.tags?.organization_id}`], reason)), {
      groupId: connectionKey(c),
    });

  it("apply names exactly the failing connection's records, in order, and nothing else", async () => {
    const failing = PERM[0]!;
    p.nango!.setFault((r) =>
      r.method === 'PATCH' && r.connectionId === failing.connectionId ? { kind: 'status', status: 503 } : undefined,
    );
    const { handler } = await import('../../functions/apply.ts');
    const from = p.nango!.requests.length;
    const bad = { ...sqsRecord('bad', '{"v":2,"kind":"sync"}', { groupId: connectionKey(ACME[1]!) }) };
    const res = await handler(
      { Records: [sync('a1', ACME[0]!), sync('f1', failing), sync('a2', ACME[0]!, 'change'), sync('f2', failing, 'change'), bad] },
      makeContext('apply', 'us-east-1', 30_000),
    );
    expect(res.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['f1', 'f2']);
    // Apply reads nothing from Nango: one PATCH for the good group, three tries for the failing one.
    expect(
      p
        .nango!.requests.slice(from)
        .map((r) => `${r.method} ${r.status}`)
        .sort(),
    ).toEqual(['PATCH 200', 'PATCH 503', 'PATCH 503', 'PATCH 503']);
    const [parked] = await dlqOf('sync-dlq', (d) => d.envelope?.originals.some((o) => o.messageId === 'bad') ?? false);
    expect(parked?.envelope?.error.code).toBe('invalid_sync_message');
  });

  it('route names exactly the record whose connection lookup failed transiently', async () => {
    p.nango!.setFault((r) => (r.method === 'GET' && r.path === '/connections' ? { kind: 'status', status: 502 } : undefined));
    const { handler } = await import('../../functions/route.ts');
    const rec = (id: string, e: object, receiveCount = 1) =>
      sqsRecord(id, JSON.stringify(e), { receiveCount, firstReceivedAt: Date.now() - 60_000 });
    const res = await handler(
      {
        Records: [
          rec('indexed', seatsChanged('acme', 43, t(5_000))),
          rec('new-subject', seatsChanged('newco', 1, t())),
          rec('invalid', planChanged('acme', 'platinum', t())),
          rec('last-receive', seatsChanged('otherco', 1, t(), { id: 'last-receive' }), 5),
        ],
      },
      makeContext('route', 'us-east-1', 30_000),
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'new-subject' }] });
    // On its last allowed receive a transient failure is parked with its error, not left to the redrive.
    const [parked] = await dlqOf('ingress-dlq', (d) => d.envelope?.events[0]?.id === 'last-receive');
    expect(parked?.envelope).toMatchObject({ stage: 'route', attempts: 5, error: { status: 502, retryable: true } });
  });
});

describe('what never happens', () => {
  it('apply never GETs, and only the list and metadata routes are called', () => {
    const calls = new Set(p.nango!.requests.map((r) => `${r.method} ${r.path}`));
    expect([...calls].sort()).toEqual(['GET /connections', 'PATCH /connections/metadata']);
  });

  it('no bookkeeping key in any metadata or request', () => {
    const all = JSON.stringify([p.nango!.connections(), p.nango!.requests]);
    expect(all).not.toContain('_metadataSyncVersions');
    for (const c of p.nango!.connections()) for (const k of Object.keys(c.metadata ?? {})) expect(k.startsWith('_'), k).toBe(false);
  });

  it('the key appears in no output, DLQ message, recorded request or handler environment', async () => {
    expect(logs.capture.lines()).toBeGreaterThan(20);
    expect(logs.capture.leaks()).toBe(0);
    const dlq = JSON.stringify(await p.dlq());
    expect(dlq.length).toBeGreaterThan(1_000);
    expect(dlq).not.toContain(KEY);
    expect(JSON.stringify(p.nango!.requests)).not.toContain(KEY);
    expect(JSON.stringify(p.env)).not.toContain(KEY);
  });
});
