/**
 * Nango's auth webhooks through the real webhook function (behind its local function URL), the sync
 * queue and the real apply handler: a new connection receives its subjects' desired state; what is
 * unsigned, oversized, unknown or repeated enqueues nothing more.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectRules } from '#events/catalog';
import { SqsQueues } from '#commons/queues';
import { handleDelivery } from '#commons/webhook/process';
import { queueCounts } from '../../../local/event-source.ts';
import { startLocalPipeline, type LocalPipeline } from '../../../local/pipeline.ts';
import type { SeedConnection } from '../../../local/standins/nango.ts';
import { authWebhookBody } from '../../../local/standins/nango/webhooks.ts';
import { planChanged, seatsChanged, settingsChanged, statusChanged } from '../../support/events.ts';
import { captureLogs, type Logs } from '../../support/logs.ts';
import { startAwsFaultProxy } from '../../support/aws-fault-proxy.ts';

const KEY = randomUUID();
const AT = new Date(Date.now() - 60_000).toISOString();
const ACME_SF: SeedConnection = {
  connectionId: '5a0e7c1d-2b3f-4a5c-9d6e-000000000001',
  providerConfigKey: 'salesforce',
  provider: 'salesforce',
  tags: { organization_id: 'acme' },
};

let p: LocalPipeline;
/** Every handler sends what it causes before its message is deleted: a short quiet period is enough. */
const drain = () => p.drain({ quietMs: 100 });
let logs: Logs;
const sign = (body: string, key = p.webhookSigningKey) => createHmac('sha256', key).update(body).digest('hex');
const post = (body: string, headers: Record<string, string> = {}) =>
  fetch(p.webhook.url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
const authBody = (c: SeedConnection, operation: 'creation' | 'override' = 'creation') => JSON.stringify(authWebhookBody(c, operation));
/** Every sync apply has been handed so far, and what still waits on the queue. */
const enqueued = async () => {
  await drain();
  const q = await queueCounts(p.sqs, p.queues.syncUrl);
  return p.syncs().length + q.visible + q.inFlight + q.delayed;
};
const patchesTo = (c: SeedConnection) =>
  p.nango!.requests.filter((r) => r.method === 'PATCH' && (r.body as { connection_id?: string })?.connection_id === c.connectionId);

beforeAll(async () => {
  logs = captureLogs([KEY]);
  p = await startLocalPipeline({ nangoSecretKey: KEY, connections: [ACME_SF] });
  await p.send([
    planChanged('acme', 'pro', AT),
    seatsChanged('acme', 12, AT),
    statusChanged('acme', 'active', { time: AT }),
    settingsChanged('acme-zd', { region: 'eu', integrations: ['zendesk'], sequence: 4 }),
    settingsChanged('acme-zd', { flags: { beta: true }, integrations: ['hubspot'], sequence: 5 }),
  ]);
  await drain();
});
afterAll(async () => {
  await p?.stop();
  logs?.stop();
});

describe('auth webhooks', () => {
  it("a signed creation webhook seeds the new connection with its subjects' desired state", async () => {
    const created = {
      connectionId: 'acme-zd',
      providerConfigKey: 'zendesk',
      provider: 'zendesk',
      tags: { organization_id: 'acme', end_user_id: 'u-9' },
    };
    p.nango!.createConnection(created);
    await drain();
    // Both subjects (its tags, its id), each key in scope for zendesk only: no plan, no flags.
    expect(await p.metadataOf('acme-zd', 'zendesk')).toEqual({
      seats: 12,
      seatsChangedAt: AT,
      status: 'active',
      active: true,
      statusReason: null,
      region: 'eu',
    });
    const [delivery] = p.nango!.webhookDeliveries();
    expect(delivery?.attempts.map((a) => a.status)).toEqual([200]);
    // A lookup naming no subject (the body's tags are not trusted): apply listed the connection and indexed it.
    const seeds = p.syncs().filter((s) => s.message?.reason === 'seed');
    expect(seeds).toHaveLength(1);
    expect(seeds[0]?.message).toMatchObject({ subjects: [], lookup: true });
    expect((await p.state.readIndex('tags:organization_id=acme'))?.connections).toContainEqual({
      connectionId: 'acme-zd',
      providerConfigKey: 'zendesk',
    });
  });

  it('a replayed delivery (the same body twice) gives one seed and one PATCH', async () => {
    const c: SeedConnection = { ...ACME_SF, connectionId: '5a0e7c1d-2b3f-4a5c-9d6e-000000000002', provider: 'salesforce' };
    p.nango!.addConnection(c);
    const body = authBody(c);
    const before = await enqueued();
    for (let i = 0; i < 2; i++) {
      const res = await post(body, { 'x-nango-hmac-sha256': sign(body) });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ seeded: true });
    }
    expect(await enqueued()).toBe(before + 1);
    expect(patchesTo(c)).toHaveLength(1);
    expect(await p.metadataOf(c.connectionId, 'salesforce')).toMatchObject({ plan: 'pro', seats: 12, status: 'active' });
  });

  it('override (re-authorised) seeds again: metadata replaced behind our back comes back', async () => {
    p.nango!.setMetadataBehindOurBack('acme-zd', 'zendesk', { note: 'edited in the dashboard' });
    p.nango!.reauthorize('acme-zd', 'zendesk');
    await drain();
    expect(await p.metadataOf('acme-zd', 'zendesk')).toMatchObject({ note: 'edited in the dashboard', seats: 12, region: 'eu' });
    expect(p.nango!.webhookDeliveries().map((d) => d.body.operation)).toEqual(['creation', 'override']);
  });

  it('a bad signature: 401 with no detail, nothing enqueued', async () => {
    const c = { ...ACME_SF, connectionId: '5a0e7c1d-2b3f-4a5c-9d6e-000000000003' };
    p.nango!.addConnection(c);
    const body = authBody(c);
    const before = await enqueued();
    for (const headers of [
      {} as Record<string, string>,
      { 'x-nango-hmac-sha256': sign(body, randomUUID()) },
      { 'x-nango-hmac-sha256': sign(`${body} `) },
      { 'x-nango-hmac-sha256': 'not hex' },
      // Signed with the API key instead of the webhook signing key.
      { 'x-nango-hmac-sha256': sign(body, KEY) },
    ]) {
      const res = await post(body, headers);
      expect(res.status).toBe(401);
      expect(['', '{}']).toContain(await res.text());
    }
    expect(await enqueued()).toBe(before);
    expect(patchesTo(c)).toEqual([]);
    expect((await p.state.readIndex(`connection:${c.connectionId}`))?.connections ?? []).toEqual([]);
  });

  it('an unknown webhook type: 200, nothing enqueued', async () => {
    const before = await enqueued();
    for (const body of [
      JSON.stringify({ type: 'sync', connectionId: ACME_SF.connectionId, providerConfigKey: 'salesforce', success: true }),
      JSON.stringify({ type: 'forward', payload: { anything: true } }),
      JSON.stringify({ ...JSON.parse(authBody(ACME_SF)), operation: 'refresh' }),
      JSON.stringify({ ...JSON.parse(authBody(ACME_SF)), success: false }),
      // Not seeded, so its other fields are not ours to check: a shape we would refuse for a seed.
      JSON.stringify({ ...JSON.parse(authBody(ACME_SF)), operation: 'refresh', connectionId: 42, tags: ['x'] }),
      JSON.stringify({ ...JSON.parse(authBody(ACME_SF)), success: false, providerConfigKey: null }),
    ]) {
      const res = await post(body, { 'x-nango-hmac-sha256': sign(body) });
      expect(res.status, body).toBe(200);
      expect(await res.json()).toHaveProperty('ignored');
    }
    expect(await enqueued()).toBe(before);
  });

  it('an oversized body: 413, nothing enqueued', async () => {
    const before = await enqueued();
    const body = JSON.stringify({ ...JSON.parse(authBody(ACME_SF)), pad: 'x'.repeat(70 * 1024) });
    const res = await post(body, { 'x-nango-hmac-sha256': sign(body) });
    expect(res.status).toBe(413);
    expect(await enqueued()).toBe(before);
  });

  it('503 when the seed cannot be enqueued, so Nango retries; the retry seeds', async () => {
    const c = { ...ACME_SF, connectionId: '5a0e7c1d-2b3f-4a5c-9d6e-000000000004' };
    p.nango!.addConnection(c);
    let failures = 1;
    const proxy = await startAwsFaultProxy(p.env.AWS_ENDPOINT_URL_SQS!, (call) =>
      call.action === 'SendMessage' && failures-- > 0 ? { status: 503, type: 'ServiceUnavailable', message: 'injected' } : undefined,
    );
    const sqs = new SQSClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
    try {
      const deps = {
        queues: new SqsQueues(sqs),
        pathToken: 'local-test-path-token',
        syncQueueUrl: p.queues.syncUrl,
        signingKey: { get: async () => p.webhookSigningKey, refresh: async () => undefined },
        maxBodyBytes: 65_536,
        ...subjectRules(),
      };
      const body = Buffer.from(authBody(c));
      const delivery = { method: 'POST', path: '/local-test-path-token', body, signature: sign(body.toString()) };
      expect(await handleDelivery(delivery, deps)).toEqual({ status: 503, body: { error: 'unavailable' } });
      expect(await handleDelivery(delivery, deps)).toMatchObject({ status: 200, body: { seeded: true } });
      await drain();
      expect(patchesTo(c)).toHaveLength(1);
      expect(await p.metadataOf(c.connectionId, 'salesforce')).toMatchObject({ plan: 'pro', seats: 12 });
    } finally {
      sqs.destroy();
      await proxy.close();
    }
  });

  it('printed no key, and signature failures were logged (sampled) with the source IP and without the body', () => {
    expect(logs.capture.leaks()).toBe(0);
    const rejected = logs.records().filter((r) => r.message === 'webhook request rejected');
    // Five refusals within seconds: one line per reason (the rest counted in the next line).
    expect(rejected.map((r) => r.reason).sort()).toEqual(['signature_malformed', 'signature_mismatch']);
    for (const r of rejected) {
      expect(r.sourceIp).toMatch(/127\.0\.0\.1/);
      expect(JSON.stringify(r)).not.toContain('connectionId');
    }
  });
});
