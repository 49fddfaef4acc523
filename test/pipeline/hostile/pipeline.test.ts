/**
 * Hostile input through the real handlers in the local pipeline: event bodies that are not JSON,
 * huge, deeply nested, carry `__proto__`/`constructor` keys or wrong types; tag values and connection
 * ids with `/`, `..`, `%`, CR/LF, unicode or over 255 characters; and hostile messages on the sync
 * queue itself (what a replay or a bug could put there). Each ends as a clear DLQ error, state kept
 * for a subject with no connection, or a correctly encoded request to its own connection; no batch
 * fails, no request goes to another path or connection, no prototype is polluted.
 */
import { randomUUID } from 'node:crypto';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectId } from '#commons/domain/subject';
import { MAX_EVENT_BYTES } from '#commons/event-envelope';
import { connectionKey } from '#commons/sync/message';
import type { InvocationResult } from '../../../local/event-source.ts';
import { startLocalPipeline, type DlqMessage, type LocalPipeline, type SentEvent } from '../../../local/pipeline.ts';
import { captureOutput, type OutputCapture } from '../../../local/chaos/capture.ts';
import { prototypeSnapshot } from '../../unit/properties/arbitraries.ts';

const KEY = randomUUID();
const TIME = '2026-02-01T10:00:00.000Z';
const SEEDED = ['nested', 'acme', 'acme/eu x@y.com', '..', '../admin', 'a/../../b', `o'brien "q" {x} $y|z`, 'x'.repeat(255), 'admin', 'b'];

type Outcome =
  | { dlq: 'ingress-dlq' | 'sync-dlq'; code: string }
  | { applied: { connectionId: string; providerConfigKey: string; has: Record<string, unknown> }[] }
  /** A valid event for a subject with no connection: its state is kept, nothing is parked. */
  | { stored: string }
  /** Nothing parked, nothing else to check. */
  | { handled: true };

interface Case {
  name: string;
  body: string;
  expect: Outcome;
}

let seq = 0;
const env = (detailType: string, detail: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: `h-${randomUUID()}`,
    source: detailType.startsWith('customer.status') || detailType.startsWith('customer.settings') ? 'app.accounts' : 'app.billing',
    'detail-type': detailType,
    time: TIME,
    detail,
    ...extra,
  });
/** Tag-addressed (organization_id); each its own changedAt, so no two cases tie. */
const seats = (organizationId: unknown, n: unknown = 7, extra: Record<string, unknown> = {}) =>
  env('customer.seats_changed', { organizationId, seats: n, changedAt: new Date(Date.parse(TIME) + ++seq).toISOString(), ...extra });
/** Addressed by connection id. */
const settings = (customerId: unknown, detail: Record<string, unknown>) =>
  env('customer.settings_changed', { customerId, sequence: ++seq, ...detail });
const sf = (connectionId: string, has: Record<string, unknown>) => ({ connectionId, providerConfigKey: 'salesforce', has });
const byTag = (v: string) => subjectId({ by: 'tags', tags: { organization_id: v }, integrations: 'all' });
const deep = (n: number, leaf = '1') => `${'['.repeat(n)}${leaf}${']'.repeat(n)}`;
/** JSON.stringify overflows the stack on such depth: the nesting is spliced into the text. */
const DEEP = '"__DEEP__"';
const withDeep = (body: string) => body.replace(DEEP, deep(50_000));

const CASES: Case[] = [
  // Not JSON, or JSON that is not an envelope.
  { name: 'plain text', body: 'hello, route', expect: { dlq: 'ingress-dlq', code: 'invalid_json' } },
  { name: 'truncated JSON', body: '{"id": "x", "source": "app.billing", "detail', expect: { dlq: 'ingress-dlq', code: 'invalid_json' } },
  { name: 'JSON null', body: 'null', expect: { dlq: 'ingress-dlq', code: 'invalid_envelope' } },
  { name: 'JSON array', body: '[1,2,3]', expect: { dlq: 'ingress-dlq', code: 'invalid_envelope' } },
  { name: 'JSON string', body: '"customer.seats_changed"', expect: { dlq: 'ingress-dlq', code: 'invalid_envelope' } },
  { name: 'JSON number', body: '1e400', expect: { dlq: 'ingress-dlq', code: 'invalid_envelope' } },
  // Huge.
  {
    name: `over ${MAX_EVENT_BYTES} bytes`,
    body: seats('acme', 8, { pad: 'p'.repeat(MAX_EVENT_BYTES) }),
    expect: { dlq: 'ingress-dlq', code: 'event_too_large' },
  },
  {
    name: 'large but allowed (unknown padding key)',
    body: seats('acme', 9, { pad: 'p'.repeat(200_000) }),
    expect: { applied: [sf('acme', { seats: 9 }), { connectionId: 'acme', providerConfigKey: 'hubspot', has: { seats: 9 } }] },
  },
  // Deeply nested.
  {
    name: 'deeply nested detail',
    body: withDeep(env('customer.seats_changed', '__DEEP__')),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  {
    name: 'deeply nested unknown key in detail',
    body: withDeep(seats('a/../../b', 11, { extra: '__DEEP__' })),
    expect: { applied: [sf('a/../../b', { seats: 11 })] },
  },
  {
    name: 'deeply nested unknown envelope key',
    body: withDeep(env('customer.seats_changed', { organizationId: 'nested', seats: 12, changedAt: TIME }, { resources: '__DEEP__' })),
    expect: { applied: [sf('nested', { seats: 12 })] },
  },
  {
    name: 'deeply nested in a typed field',
    body: withDeep(settings('acme', { flags: { beta: '__DEEP__' } })),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  // __proto__ / constructor.
  {
    name: '__proto__ carrying the required envelope fields',
    body: `{"__proto__":{"source":"app.billing","detail-type":"customer.seats_changed"},"id":"p1","time":"${TIME}","detail":{}}`,
    expect: { dlq: 'ingress-dlq', code: 'invalid_envelope' },
  },
  {
    name: '__proto__ carrying the required detail fields',
    body: env('customer.plan_changed', JSON.parse(`{"__proto__":{"plan":"pro","organizationId":"acme","changedAt":"${TIME}"}}`)),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  // An own __proto__ key is refused wherever it stands: zod would drop it without a word.
  {
    name: '__proto__ and constructor.prototype beside a valid detail',
    body: env(
      'customer.plan_changed',
      JSON.parse(
        `{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"organizationId":"acme","plan":"pro","changedAt":"${TIME}"}`,
      ),
    ),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  {
    name: 'constructor.prototype beside a valid detail',
    body: env(
      'customer.plan_changed',
      JSON.parse(`{"constructor":{"prototype":{"polluted":true}},"organizationId":"acme","plan":"pro","changedAt":"${TIME}"}`),
    ),
    expect: { applied: [sf('acme', { plan: 'pro' }), { connectionId: 'acme', providerConfigKey: 'hubspot', has: { plan: 'pro' } }] },
  },
  {
    name: 'a flag named constructor',
    body: settings('acme/eu x@y.com', { flags: { constructor: true, beta: false } }),
    expect: { applied: [sf('acme/eu x@y.com', { flags: { constructor: true, beta: false } })] },
  },
  // zod 4 would drop a `__proto__` record key (flags would become {} and wipe the stored flags): refused instead.
  {
    name: 'a flag named __proto__',
    body: env('customer.settings_changed', JSON.parse('{"customerId":"b","sequence":1,"flags":{"__proto__":true}}')),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  // Wrong types.
  {
    name: 'detail-type as an array',
    body: JSON.stringify({ id: 'w1', source: 'app.billing', 'detail-type': ['customer.seats_changed'], time: TIME, detail: {} }),
    expect: { dlq: 'ingress-dlq', code: 'invalid_envelope' },
  },
  {
    name: 'id as an object',
    body: JSON.stringify({ id: { $ne: null }, source: 'app.billing', 'detail-type': 'customer.seats_changed', time: TIME, detail: {} }),
    expect: { dlq: 'ingress-dlq', code: 'invalid_envelope' },
  },
  {
    name: 'time not a date',
    body: seats('acme', 1, {}).replace(`"time":"${TIME}"`, '"time":"yesterday"'),
    expect: { dlq: 'ingress-dlq', code: 'invalid_envelope' },
  },
  { name: 'detail null', body: env('customer.seats_changed', null), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  { name: 'seats as a string', body: seats('acme', '10'), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  {
    name: 'seats overflowing to Infinity',
    body: seats('acme', 1).replace('"seats":1,', '"seats":1e400,'),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  { name: 'organizationId as a number', body: seats(42), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  {
    name: 'unknown detail-type',
    body: env('customer.deleted', { organizationId: 'acme' }),
    expect: { dlq: 'ingress-dlq', code: 'unknown_event_type' },
  },
  // Tag values: a query parameter each, matching exactly their own connections.
  { name: 'tag value ".."', body: seats('..', 22), expect: { applied: [sf('..', { seats: 22 })] } },
  { name: 'tag value "../admin"', body: seats('../admin', 23), expect: { applied: [sf('../admin', { seats: 23 })] } },
  {
    name: 'tag value with quotes, braces, $ and |',
    body: seats(`o'brien "q" {x} $y|z`, 24),
    expect: { applied: [sf(`o'brien "q" {x} $y|z`, { seats: 24 })] },
  },
  { name: 'tag value of 255 characters', body: seats('x'.repeat(255), 25), expect: { applied: [sf('x'.repeat(255), { seats: 25 })] } },
  { name: 'tag value of 256 characters', body: seats('x'.repeat(256), 26), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  { name: 'tag value with % (no such customer)', body: seats('..%2Fadmin', 27), expect: { stored: byTag('..%2Fadmin') } },
  {
    name: 'tag value with CR/LF (no such customer)',
    body: seats('acme\r\nX-Injected: 1', 28),
    expect: { stored: byTag('acme\r\nX-Injected: 1') },
  },
  { name: 'tag value in unicode (no such customer)', body: seats('ünïcødé', 29), expect: { stored: byTag('ünïcødé') } },
  // Connection ids: Nango's own rules, checked before any request.
  {
    name: 'connection id with "/" and spaces',
    body: settings('acme/eu x@y.com', { region: 'eu' }),
    expect: { applied: [sf('acme/eu x@y.com', { region: 'eu' })] },
  },
  {
    name: 'connection id "../admin"',
    body: settings('../admin', { region: 'ap' }),
    expect: { applied: [sf('../admin', { region: 'ap' })] },
  },
  {
    name: 'connection id of 256 characters',
    body: settings('x'.repeat(256), { region: 'eu' }),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  { name: 'connection id with %', body: settings('..%2Fadmin', { region: 'eu' }), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  {
    name: 'connection id with CR/LF',
    body: settings('acme\r\nX-Injected: 1', { region: 'eu' }),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  { name: 'connection id in unicode', body: settings('ünïcødé', { region: 'eu' }), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  {
    name: 'event id with CR/LF and unicode',
    body: seats('b', 30).replace(/"id":"[^"]+"/, '"id":"evt\\r\\nX-Injected: 1 ünï"'),
    expect: { applied: [sf('b', { seats: 30 })] },
  },
  {
    name: 'event id over 256 characters',
    body: seats('b', 31).replace(/"id":"[^"]+"/, `"id":"${'i'.repeat(257)}"`),
    expect: { dlq: 'ingress-dlq', code: 'invalid_envelope' },
  },
  {
    name: 'integration key with "../"',
    body: settings('admin', { region: 'eu', integrations: ['../salesforce'] }),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  {
    name: 'integration key with CR/LF',
    body: settings('admin', { region: 'ap', integrations: ['salesforce\r\nx'] }),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
];

const syncBody = (connectionId: string, extra = '') =>
  `{"v":2,"kind":"sync","target":{"connectionId":${JSON.stringify(connectionId)},"providerConfigKey":"salesforce"},"subjects":[${JSON.stringify(`connection:${encodeURIComponent(connectionId)}`)}],"reason":"repair"${extra}}`;
const groupOf = (connectionId: string) => connectionKey({ connectionId, providerConfigKey: 'salesforce' });

/** Hostile bodies straight on the sync FIFO (a replay, a bug, a hand-sent message). */
const SYNC_CASES: { name: string; body: string; group: string; expect: Outcome }[] = [
  { name: 'not JSON', body: 'not json at all', group: 'g-text', expect: { dlq: 'sync-dlq', code: 'invalid_sync_message' } },
  {
    name: 'wrong version and types',
    body: JSON.stringify({ v: 1, kind: 'sync', target: 'acme', subjects: 'all', reason: 'now' }),
    group: 'g-types',
    expect: { dlq: 'sync-dlq', code: 'invalid_sync_message' },
  },
  { name: 'target id with CR/LF', body: syncBody('acme\r\n'), group: 'g-crlf', expect: { dlq: 'sync-dlq', code: 'invalid_sync_message' } },
  {
    name: 'deeply nested events',
    body: syncBody('admin', `,"events":${deep(50_000)}`),
    group: groupOf('admin'),
    expect: { dlq: 'sync-dlq', code: 'invalid_sync_message' },
  },
  {
    name: 'a target that is not its group',
    body: syncBody('admin'),
    group: groupOf('acme'),
    expect: { handled: true },
  },
  {
    name: '__proto__ key in the message',
    body: syncBody('nested', ',"__proto__":{"polluted":true,"reason":"seed"}'),
    group: groupOf('nested'),
    expect: { handled: true },
  },
];

let p: LocalPipeline;
let capture: OutputCapture;
let proto: string[];
const invocations: { stage: string; r: InvocationResult }[] = [];
let sent: SentEvent[] = [];
let dlq: DlqMessage[] = [];

beforeAll(async () => {
  proto = prototypeSnapshot();
  capture = captureOutput({ watch: [KEY] });
  p = await startLocalPipeline({
    nangoSecretKey: KEY,
    // A deferral's deadline waits this long on the ingress queue, and the drain waits for it.
    env: { APPLY_MAX_DEFER_SECONDS: '5' },
    // Each connection is its own customer: its id, and its organization_id tag, are the hostile value.
    connections: [
      ...SEEDED.map((connectionId) => ({
        connectionId,
        providerConfigKey: 'salesforce',
        metadata: null,
        tags: { organization_id: connectionId },
      })),
      { connectionId: 'acme', providerConfigKey: 'hubspot', metadata: null, tags: { organization_id: 'acme' } },
    ],
    route: { onInvocation: (r) => invocations.push({ stage: 'route', r }) },
    apply: { onInvocation: (r) => invocations.push({ stage: 'apply', r }) },
  });
  // The deep message first, in a batch with healthy messages of other groups.
  await p.sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: p.queues.syncUrl,
      Entries: SYNC_CASES.map((c, j) => ({
        Id: String(j),
        MessageBody: c.body,
        MessageGroupId: c.group,
        MessageDeduplicationId: randomUUID(),
      })),
    }),
  );
  sent = await p.send(CASES.map((c) => c.body));
  await p.drain({ timeoutMs: 60_000 });
  dlq = await p.dlq();
}, 120_000);

afterAll(async () => {
  await p?.stop();
  capture?.stop();
});

/** The DLQ messages of one case, by original body. */
const dlqFor = (body: string): DlqMessage[] =>
  dlq.filter(
    (m) => m.envelope?.originals.some((o) => o.body === body || (o.truncated === true && body.startsWith(o.body))) ?? m.body === body,
  );

async function check(c: { body: string; expect: Outcome }, queue: DlqMessage['queue']) {
  const parked = dlqFor(c.body);
  if ('dlq' in c.expect) {
    expect(parked, 'exactly one DLQ message').toHaveLength(1);
    const m = parked[0]!;
    expect(m.queue).toBe(queue);
    expect(m.envelope?.error.code).toBe(c.expect.code);
    expect(m.envelope?.error.message.length).toBeGreaterThan(10);
    expect(m.envelope?.error.retryable).toBe(false);
    return;
  }
  expect(parked.map((m) => m.envelope?.error)).toEqual([]);
  if ('applied' in c.expect)
    for (const t of c.expect.applied) expect(p.nango!.metadataOf(t.connectionId, t.providerConfigKey)).toMatchObject(t.has);
  if ('stored' in c.expect)
    expect((await p.state.readDesired(c.expect.stored)).map((k) => k.key).sort()).toEqual(['seats', 'seatsChangedAt']);
}

describe('hostile input through the real handlers', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => check(c, 'ingress-dlq'));

  it.each(SYNC_CASES.map((c) => [c.name, c] as const))('on the sync queue: %s', (_name, c) => check(c, 'sync-dlq'));

  it('every event was handled exactly once: no lost body, nothing retried, no batch failed', () => {
    expect(sent).toHaveLength(CASES.length);
    const failed = invocations.filter(({ r }) => r.outcome !== 'ok');
    expect(failed.map(({ stage, r }) => `${stage}: ${r.outcome} ${String((r.error as Error | undefined)?.message ?? '')}`)).toEqual([]);
    expect(p.route.stats()).toMatchObject({ errors: 0, timeouts: 0, invalidResponses: 0, crashes: 0, failures: 0 });
    expect(p.apply.stats()).toMatchObject({ errors: 0, timeouts: 0, invalidResponses: 0, crashes: 0, failures: 0 });
    const expectedDlq = [...CASES, ...SYNC_CASES].filter((c) => 'dlq' in c.expect).length;
    expect(dlq).toHaveLength(expectedDlq);
  });

  it('sent no request but list and PATCH, each naming only a value an event named or a connection meant for', () => {
    const allowed = new Set(SEEDED);
    const named = new Set([...SEEDED, '..%2Fadmin', 'acme\r\nX-Injected: 1', 'ünïcødé']);
    expect(p.nango!.requests.length).toBeGreaterThan(0);
    for (const r of p.nango!.requests) {
      expect(r.status, `${r.method} ${r.path}`).toBe(200);
      if (r.method === 'GET') {
        expect(r.path).toBe('/connections');
        const filters = Object.entries(r.query).filter(([k]) => k === 'connectionId' || k.startsWith('tags['));
        expect(
          filters.map(([k]) => k),
          JSON.stringify(r.query),
        ).toHaveLength(1);
        expect(['connectionId', 'tags[organization_id]']).toContain(filters[0]![0]);
        expect(named.has(filters[0]![1]), filters[0]![1]).toBe(true);
      } else {
        expect(r.method).toBe('PATCH');
        expect(r.path).toBe('/connections/metadata');
        expect(allowed.has((r.body as { connection_id: string }).connection_id)).toBe(true);
      }
    }
    // The connection a mangled path or value would hit stayed untouched.
    expect(p.nango!.metadataOf('admin', 'salesforce')).toBeNull();
  });

  it('left Object.prototype as it was and never printed the key', () => {
    expect(prototypeSnapshot()).toEqual(proto);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'plan')).toBe(false);
    expect(capture.leaks()).toBe(0);
    for (const m of dlq) expect(m.body).not.toContain(KEY);
  });
});
