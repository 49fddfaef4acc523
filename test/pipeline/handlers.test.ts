/**
 * Issue 2's acceptance tests: the real route and apply handlers, driven through fauxqs by the local
 * Lambda event source, against the Secrets Manager and Nango stand-ins.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SQSRecord } from 'aws-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { connectionKey, type PatchMessage } from '#commons/patch-message';
import { buildEnvelope } from '#commons/dlq-envelope';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { VERSIONS_KEY } from '#commons/apply/ordering';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import { makeContext } from '../../local/event-source.ts';

let p: LocalPipeline;
let secretKey: string;
const stdout: string[] = [];
const realWrite = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);

const ev = (id: string, detailType: string, detail: Record<string, unknown>, time: string, source = 'app.billing') => ({
  id,
  source,
  'detail-type': detailType,
  time,
  detail,
});
const withoutVersions = (m: Record<string, unknown> | null | undefined) => {
  if (!m) return m;
  const { [VERSIONS_KEY]: _v, ...rest } = m;
  return rest;
};

beforeAll(async () => {
  // Every line the handlers write (Powertools: JSON to stdout, WARN/ERROR to stderr) is kept for the leak check.
  const tee = (real: typeof realWrite) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      stdout.push(String(chunk));
      return (real as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
  process.stdout.write = tee(realWrite);
  process.stderr.write = tee(realErr);
  p = await startLocalPipeline({ env: { POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
  const sm = new SecretsManagerClient({ endpoint: p.secrets.url });
  secretKey = (await sm.send(new GetSecretValueCommand({ SecretId: p.secretId }))).SecretString ?? '';
  sm.destroy();
});
beforeEach(() => p.nango!.setFault(undefined));
afterAll(async () => {
  await p?.stop();
  process.stdout.write = realWrite;
  process.stderr.write = realErr;
});

describe('route', () => {
  it('parks an invalid event in the ingress DLQ with a clear error, and the batch goes on', async () => {
    await p.send([
      ev('bad-1', 'customer.plan_changed', { customerId: 'acme-corp', plan: 'platinum', changedAt: 'yesterday' }, '2026-11-20T12:00:00Z'),
      ev('bad-2', 'customer.deleted', { customerId: 'acme-corp' }, '2026-11-20T12:00:00Z'),
      'this is not json',
      ev(
        'good-1',
        'customer.plan_changed',
        { customerId: 'globex', plan: 'pro', changedAt: '2026-11-20T12:00:00Z' },
        '2026-11-20T12:00:00Z',
      ),
    ]);
    await p.drain();
    const dlq = (await p.dlq()).filter((d) => d.queue === 'ingress-dlq');
    const byEvent = new Map(dlq.map((d) => [d.envelope?.events[0]?.id ?? 'no-id', d.envelope!]));
    expect(byEvent.get('bad-1')?.error).toMatchObject({ code: 'invalid_detail', retryable: false });
    expect(byEvent.get('bad-1')?.error.message).toMatch(/plan/);
    expect(byEvent.get('bad-2')?.error).toMatchObject({ code: 'unknown_event_type' });
    expect(byEvent.get('no-id')?.error).toMatchObject({ code: 'invalid_json' });
    expect(byEvent.get('no-id')?.originals[0]?.body).toBe('this is not json');
    expect(withoutVersions(await p.metadataOf('globex', 'salesforce'))).toMatchObject({ plan: 'pro' });
  });
});

describe('apply', () => {
  it("parks a patch for an unknown connection with Nango's StdError", async () => {
    await p.send([
      ev(
        'unknown-1',
        'customer.plan_changed',
        { customerId: 'initech', plan: 'starter', changedAt: '2026-11-20T12:02:00Z' },
        '2026-11-20T12:02:00Z',
      ),
    ]);
    await p.drain();
    const env = (await p.dlq()).filter((d) => d.queue === 'patches-dlq' && d.envelope?.events.some((e) => e.id === 'unknown-1'));
    expect(env.map((d) => d.envelope!.target?.providerConfigKey).sort()).toEqual(['hubspot', 'salesforce']);
    for (const d of env) {
      expect(d.envelope!.error).toMatchObject({ status: 404, code: 'unknown_connection', retryable: false });
      expect(d.attributes).toMatchObject({ stage: 'apply', errorCode: 'unknown_connection', connectionId: 'initech' });
      expect(d.envelope!.patch).toEqual({ plan: 'starter', planChangedAt: '2026-11-20T12:02:00Z' });
    }
  });

  it('applies after a 429 once Retry-After has passed', async () => {
    let first: number | undefined;
    let retried: number | undefined;
    p.nango!.setFault((r) => {
      if (r.method !== 'PATCH' || r.connectionId !== 'globex' || r.providerConfigKey !== 'zendesk') return undefined;
      if (first === undefined) {
        first = Date.now();
        return { kind: 'rateLimit', retryAfter: 1 };
      }
      retried ??= Date.now();
      return undefined;
    });
    await p.send([
      ev(
        'seats-429',
        'customer.seats_changed',
        { customerId: 'globex', seats: 77, changedAt: '2026-11-20T13:00:00Z' },
        '2026-11-20T13:00:00Z',
      ),
    ]);
    await p.drain();
    expect(withoutVersions(await p.metadataOf('globex', 'zendesk'))).toMatchObject({ seats: 77 });
    expect(retried! - first!).toBeGreaterThanOrEqual(950);
    expect((await p.dlq()).some((d) => d.envelope?.events.some((e) => e.id === 'seats-429'))).toBe(false);
  });

  it('coalesces two events for one connection in one batch into one PATCH', async () => {
    const before = p.nango!.requests.length;
    await p.send([
      ev(
        'burst-1',
        'customer.seats_changed',
        { customerId: 'acme-corp', seats: 40, changedAt: '2026-11-20T14:00:00Z' },
        '2026-11-20T14:00:00Z',
      ),
      ev(
        'burst-2',
        'customer.seats_changed',
        { customerId: 'acme-corp', seats: 42, changedAt: '2026-11-20T14:01:00Z' },
        '2026-11-20T14:01:00Z',
      ),
    ]);
    await p.drain();
    const patches = p
      .nango!.requests.slice(before)
      .filter((r) => r.method === 'PATCH' && (r.body as { provider_config_key?: string })?.provider_config_key === 'salesforce');
    const metadata = withoutVersions(await p.metadataOf('acme-corp', 'salesforce'));
    expect(metadata).toMatchObject({ seats: 42, seatsChangedAt: '2026-11-20T14:01:00Z' });
    // Both events reach apply in one batch when route sends them together; then exactly one PATCH.
    const applied = p
      .patches()
      .filter((x) => x.message?.event.id.startsWith('burst-') && x.message.target.providerConfigKey === 'salesforce');
    expect(applied).toHaveLength(2);
    expect(patches).toHaveLength(1);
  });

  it('never lets an older event overwrite a newer one, whatever the arrival order', async () => {
    await p.send([
      ev(
        'late-new',
        'customer.plan_changed',
        { customerId: 'globex', plan: 'enterprise', changedAt: '2026-11-21T10:00:00Z' },
        '2026-11-21T10:00:00Z',
      ),
    ]);
    await p.drain();
    await p.send([
      ev(
        'late-old',
        'customer.plan_changed',
        { customerId: 'globex', plan: 'free', changedAt: '2026-11-21T09:00:00Z' },
        '2026-11-21T09:00:00Z',
      ),
    ]);
    await p.drain();
    expect(withoutVersions(await p.metadataOf('globex', 'hubspot'))).toMatchObject({
      plan: 'enterprise',
      planChangedAt: '2026-11-21T10:00:00Z',
    });
  });
});

describe('direct EventBridge invocation', () => {
  it('routes a valid event, parks an invalid one, and throws on a transient failure so EventBridge retries', async () => {
    const { handler } = await import('../../functions/route.ts');
    const ctx = makeContext('route', 'us-east-1', 30_000);
    const eb = (id: string, detailType: string, detail: object) => ({
      version: '0',
      id,
      source: 'app.billing',
      'detail-type': detailType,
      account: '1',
      time: '2026-11-24T00:00:00Z',
      region: 'us-east-1',
      resources: [],
      detail,
    });
    await expect(
      handler(
        {
          ...eb('eb-1', 'customer.status_changed', { customerId: 'acme-corp', status: 'active', changedAt: '2026-11-24T00:00:00Z' }),
          source: 'app.accounts',
        } as never,
        ctx,
      ),
    ).resolves.toBeUndefined();
    await expect(handler(eb('eb-bad', 'customer.plan_changed', { customerId: 'acme-corp' }) as never, ctx)).resolves.toBeUndefined();
    p.nango!.setFault((r) => (r.method === 'GET' && r.path === '/connections' ? { kind: 'status', status: 503 } : undefined));
    // A customer the target cache has not seen: its lookup meets the fault.
    await expect(
      handler(
        eb('eb-2', 'customer.seats_changed', { customerId: 'eb-uncached', seats: 5, changedAt: '2026-11-24T00:00:00Z' }) as never,
        ctx,
      ),
    ).rejects.toThrow(/EventBridge will retry/);
    p.nango!.setFault(undefined);
    await p.drain();
    expect(withoutVersions(await p.metadataOf('acme-corp', 'salesforce'))).toMatchObject({ status: 'active', active: true });
    expect((await p.dlq()).find((d) => d.envelope?.events.some((e) => e.id === 'eb-bad'))?.envelope?.error.code).toBe('invalid_detail');
  });
});

describe('native redrive (StartMessageMoveTask moves bodies unchanged)', () => {
  it("route and apply process the originals inside their own stage's envelope", async () => {
    const event = ev(
      'native-1',
      'customer.plan_changed',
      { customerId: 'acme-corp', plan: 'enterprise', changedAt: '2026-11-23T00:00:00Z' },
      '2026-11-23T00:00:00Z',
    );
    const routeEnv = buildEnvelope({
      stage: 'route',
      error: { code: 'x', message: 'x', retryable: true },
      events: [],
      attempts: 5,
      firstFailureAt: new Date(),
      lastFailureAt: new Date(),
      originals: [{ messageId: 'orig-1', body: JSON.stringify(event) }],
    });
    const target = { connectionId: 'globex', providerConfigKey: 'zendesk' };
    const patch: PatchMessage = {
      v: 1,
      target,
      patch: { tier: 'gold' },
      event: { id: 'native-2', source: 'app.billing', detailType: 'customer.plan_changed', time: '2026-11-23T00:00:00.000Z' },
    };
    const applyEnv = buildEnvelope({
      stage: 'apply',
      error: { code: 'http_503', message: 'x', retryable: true },
      target,
      events: [patch.event],
      attempts: 5,
      firstFailureAt: new Date(),
      lastFailureAt: new Date(),
      originals: [{ messageId: 'orig-2', body: JSON.stringify(patch), messageGroupId: connectionKey(target) }],
    });
    await p.sqs.send(new SendMessageCommand({ QueueUrl: p.queues.ingressUrl, MessageBody: JSON.stringify(routeEnv) }));
    await p.sqs.send(
      new SendMessageCommand({
        QueueUrl: p.queues.patchesUrl,
        MessageBody: JSON.stringify(applyEnv),
        MessageGroupId: connectionKey(target),
        MessageDeduplicationId: 'native-2',
      }),
    );
    await p.drain();
    expect(withoutVersions(await p.metadataOf('acme-corp', 'salesforce'))).toMatchObject({
      plan: 'enterprise',
      planChangedAt: '2026-11-23T00:00:00Z',
    });
    expect(withoutVersions(await p.metadataOf('globex', 'zendesk'))).toMatchObject({ tier: 'gold' });
    expect((await p.dlq()).some((d) => d.envelope?.events.some((e) => e.id.startsWith('native-')) || d.body.includes('native-'))).toBe(
      false,
    );
  });
});

describe('partial batch responses', () => {
  const record = (id: string, m: PatchMessage): SQSRecord => ({
    messageId: id,
    receiptHandle: `rh-${id}`,
    body: JSON.stringify(m),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
      MessageGroupId: connectionKey(m.target),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:patches.fifo',
    awsRegion: 'us-east-1',
  });
  const msg = (connectionId: string, providerConfigKey: string, id: string, patch: PatchMessage['patch']): PatchMessage => ({
    v: 1,
    target: { connectionId, providerConfigKey },
    patch,
    event: { id, source: 'app.billing', detailType: 'customer.seats_changed', time: '2026-11-22T00:00:00.000Z' },
  });

  it("apply names exactly the failing group's messages, in order, and nothing else", async () => {
    p.nango!.setFault((r) =>
      r.connectionId === 'globex' && r.providerConfigKey === 'salesforce' ? { kind: 'status', status: 503 } : undefined,
    );
    const { handler } = await import('../../functions/apply.ts');
    const res = await handler(
      {
        Records: [
          record('a1', msg('acme-corp', 'hubspot', 'pa-1', { x: 1 })),
          record('g1', msg('globex', 'salesforce', 'pg-1', { x: 1 })),
          record('a2', msg('acme-corp', 'hubspot', 'pa-2', { x: 2 })),
          record('g2', msg('globex', 'salesforce', 'pg-2', { x: 2 })),
          record('bad', { ...msg('acme-corp', 'salesforce', 'pb', { x: 1 }), v: 2 } as unknown as PatchMessage),
        ],
      },
      makeContext('apply', 'us-east-1', 30_000),
    );
    expect(res.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['g1', 'g2']);
    expect(withoutVersions(await p.metadataOf('acme-corp', 'hubspot'))).toMatchObject({ x: 2 });
    const parked = (await p.dlq()).find((d) => d.envelope?.originals.some((o) => o.messageId === 'bad'));
    expect(parked?.envelope?.error.code).toBe('invalid_patch_message');
  });

  it('route names exactly the record whose target lookup failed transiently', async () => {
    p.nango!.setFault((r) => (r.method === 'GET' && r.path === '/connections' ? { kind: 'status', status: 502 } : undefined));
    const { handler } = await import('../../functions/route.ts');
    const body = (e: object, id: string): SQSRecord => ({
      ...record(id, msg('x', 'y', id, {})),
      body: JSON.stringify(e),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
    });
    const res = await handler(
      {
        Records: [
          body(
            ev(
              'r-static',
              'customer.plan_changed',
              { customerId: 'acme-corp', plan: 'pro', changedAt: '2026-11-22T00:00:00Z' },
              '2026-11-22T00:00:00Z',
            ),
            'm1',
          ),
          body(
            ev(
              'r-all',
              'customer.seats_changed',
              { customerId: 'brand-new-customer', seats: 1, changedAt: '2026-11-22T00:00:00Z' },
              '2026-11-22T00:00:00Z',
            ),
            'm2',
          ),
          body(ev('r-bad', 'customer.plan_changed', { customerId: 'acme-corp' }, '2026-11-22T00:00:00Z'), 'm3'),
        ],
      },
      makeContext('route', 'us-east-1', 30_000),
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });
  });

  it('route parks a transient failure on the last allowed receive instead of leaving it to the redrive', async () => {
    p.nango!.setFault((r) => (r.method === 'GET' && r.path === '/connections' ? { kind: 'status', status: 503 } : undefined));
    const { handler } = await import('../../functions/route.ts');
    const last = (e: object, id: string, count: string): SQSRecord => ({
      ...record(id, msg('x', 'y', id, {})),
      body: JSON.stringify(e),
      attributes: {
        ApproximateReceiveCount: count,
        SentTimestamp: String(Date.now()),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(Date.now() - 60_000),
      },
    });
    const res = await handler(
      {
        Records: [
          last(
            ev(
              'r-last',
              'customer.seats_changed',
              { customerId: 'someone-new', seats: 3, changedAt: '2026-11-22T00:00:00Z' },
              '2026-11-22T00:00:00Z',
            ),
            'l1',
            '5',
          ),
          last(
            ev(
              'r-not-yet',
              'customer.seats_changed',
              { customerId: 'someone-else', seats: 4, changedAt: '2026-11-22T00:00:00Z' },
              '2026-11-22T00:00:00Z',
            ),
            'l2',
            '4',
          ),
        ],
      },
      makeContext('route', 'us-east-1', 30_000),
    );
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'l2' }] });
    const parked = (await p.dlq()).find((d) => d.envelope?.events.some((e) => e.id === 'r-last'))?.envelope;
    expect(parked).toMatchObject({ stage: 'route', attempts: 5, error: { status: 503, retryable: true } });
    expect(JSON.parse(parked!.originals[0]!.body)).toMatchObject({ id: 'r-last' });
  });
});

describe('observability', () => {
  it('emits EMF metrics by name, with error codes and DLQ writes as dimensions', () => {
    const emf = stdout
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('"_aws"'))
      .map(
        (l) =>
          JSON.parse(l) as { _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] } } & Record<
            string,
            unknown
          >,
      );
    const names = new Set(emf.flatMap((e) => e._aws.CloudWatchMetrics.flatMap((m) => m.Metrics.map((x) => x.Name))));
    for (const n of [
      'EventsReceived',
      'EventsInvalid',
      'PatchesEnqueued',
      'PatchesApplied',
      'PatchesCoalesced',
      'NangoLatency',
      'NangoErrors',
      'DlqWrites',
    ])
      expect(names, n).toContain(n);
    const dlq = emf.filter((e) => e.DlqWrites !== undefined);
    expect(dlq.some((e) => e.stage === 'apply' && e.code === 'unknown_connection')).toBe(true);
    expect(dlq.some((e) => e.stage === 'route' && e.code === 'invalid_detail')).toBe(true);
  });

  it('logs JSON lines that carry the event id as correlation id', () => {
    const lines = stdout
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.startsWith('{"level"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.correlation_id === 'unknown-1' && l.level === 'WARN')).toBe(true);
  });
});

describe('the secret key', () => {
  it('appears in no log line, DLQ message or recorded request', async () => {
    expect(secretKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(stdout.length).toBeGreaterThan(10);
    expect(stdout.join('')).not.toContain(secretKey);
    expect(JSON.stringify(await p.dlq())).not.toContain(secretKey);
    expect(JSON.stringify(p.nango!.requests)).not.toContain(secretKey);
    expect(JSON.stringify(p.env)).not.toContain(secretKey);
  });
});
