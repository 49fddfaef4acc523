/**
 * Hostile input through the real handlers in the local pipeline: event bodies that are not JSON,
 * huge, deeply nested, carry `__proto__`/`constructor` keys or wrong types; ids with `/`, `..`, `%`,
 * CR/LF, unicode or over 255 characters; and hostile messages on the patches queue itself (what a
 * replay or a bug could put there). Each ends as a clear DLQ error or a correctly encoded request to
 * its own connection; no batch fails, no request goes to another path, no prototype is polluted.
 */
import { randomUUID } from 'node:crypto';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EVENT_BYTES } from '#commons/event-envelope';
import { connectionKey } from '#commons/patch-message';
import type { InvocationResult } from '../../local/event-source.ts';
import { startLocalPipeline, type DlqMessage, type LocalPipeline, type SentEvent } from '../../local/pipeline.ts';
import { captureOutput, type OutputCapture } from '../../local/chaos/capture.ts';
import { prototypeSnapshot } from '../properties/arbitraries.ts';

const KEY = randomUUID();
const TIME = '2026-02-01T10:00:00.000Z';
const SEEDED = ['nested', 'acme', 'acme/eu x@y.com', '..', '../admin', 'a/../../b', `o'brien "q" {x} $y|z`, 'x'.repeat(255), 'admin', 'b'];

type Outcome =
  | { dlq: 'ingress-dlq' | 'patches-dlq'; code: string }
  | { applied: { connectionId: string; providerConfigKey: string; has: Record<string, unknown> }[] };

interface Case {
  name: string;
  body: string;
  expect: Outcome;
}

const env = (detailType: string, detail: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: `h-${randomUUID()}`,
    source: detailType.startsWith('customer.status') || detailType.startsWith('customer.settings') ? 'app.accounts' : 'app.billing',
    'detail-type': detailType,
    time: TIME,
    detail,
    ...extra,
  });
const seats = (customerId: unknown, n: unknown = 7, extra: Record<string, unknown> = {}) =>
  env('customer.seats_changed', { customerId, seats: n, changedAt: TIME, ...extra });
const sf = (connectionId: string, has: Record<string, unknown>) => ({ connectionId, providerConfigKey: 'salesforce', has });
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
    expect: { applied: [sf('acme', { seats: 9 })] },
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
    body: withDeep(env('customer.seats_changed', { customerId: 'nested', seats: 12, changedAt: TIME }, { resources: '__DEEP__' })),
    expect: { applied: [sf('nested', { seats: 12 })] },
  },
  {
    name: 'deeply nested in a typed field',
    body: withDeep(env('customer.settings_changed', { customerId: 'acme', flags: { beta: '__DEEP__' } })),
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
    body: env('customer.plan_changed', JSON.parse(`{"__proto__":{"plan":"pro","customerId":"acme","changedAt":"${TIME}"}}`)),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  // An own __proto__ key is refused wherever it stands: zod would drop it without a word.
  {
    name: '__proto__ and constructor.prototype beside a valid detail',
    body: env(
      'customer.plan_changed',
      JSON.parse(
        `{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"customerId":"acme","plan":"pro","changedAt":"${TIME}"}`,
      ),
    ),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  {
    name: 'constructor.prototype beside a valid detail',
    body: env(
      'customer.plan_changed',
      JSON.parse(`{"constructor":{"prototype":{"polluted":true}},"customerId":"acme","plan":"pro","changedAt":"${TIME}"}`),
    ),
    expect: {
      applied: [
        { connectionId: 'acme', providerConfigKey: 'salesforce', has: { plan: 'pro' } },
        { connectionId: 'acme', providerConfigKey: 'hubspot', has: { plan: 'pro' } },
      ],
    },
  },
  {
    name: 'a flag named constructor',
    body: env('customer.settings_changed', { customerId: 'acme/eu x@y.com', flags: { constructor: true, beta: false } }),
    expect: { applied: [sf('acme/eu x@y.com', { flags: { constructor: true, beta: false } })] },
  },
  // zod 4 would drop a `__proto__` record key (flags would become {} and wipe the stored flags): refused instead.
  {
    name: 'a flag named __proto__',
    body: env('customer.settings_changed', JSON.parse('{"customerId":"b","flags":{"__proto__":true}}')),
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
    body: seats('acme', 1).replace('"seats":1', '"seats":1e400'),
    expect: { dlq: 'ingress-dlq', code: 'invalid_detail' },
  },
  { name: 'customerId as a number', body: seats(42), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  {
    name: 'unknown detail-type',
    body: env('customer.deleted', { customerId: 'acme' }),
    expect: { dlq: 'ingress-dlq', code: 'unknown_event_type' },
  },
  // Ids.
  {
    name: 'customerId with "/" and spaces',
    body: seats('acme/eu x@y.com', 21),
    expect: { applied: [sf('acme/eu x@y.com', { seats: 21 })] },
  },
  { name: 'customerId ".."', body: seats('..', 22), expect: { applied: [sf('..', { seats: 22 })] } },
  { name: 'customerId "../admin"', body: seats('../admin', 23), expect: { applied: [sf('../admin', { seats: 23 })] } },
  {
    name: 'customerId with quotes, braces, $ and |',
    body: seats(`o'brien "q" {x} $y|z`, 24),
    expect: { applied: [sf(`o'brien "q" {x} $y|z`, { seats: 24 })] },
  },
  { name: 'customerId of 255 characters', body: seats('x'.repeat(255), 25), expect: { applied: [sf('x'.repeat(255), { seats: 25 })] } },
  { name: 'customerId of 256 characters', body: seats('x'.repeat(256), 26), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  { name: 'customerId with %', body: seats('..%2Fadmin', 27), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  { name: 'customerId with CR/LF', body: seats('acme\r\nX-Injected: 1', 28), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
  { name: 'customerId in unicode', body: seats('ünïcødé', 29), expect: { dlq: 'ingress-dlq', code: 'invalid_detail' } },
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
    body: env('customer.settings_changed', { customerId: 'admin', region: 'eu', integrations: ['../salesforce'] }),
    expect: { dlq: 'ingress-dlq', code: 'invalid_target' },
  },
  {
    name: 'integration key with CR/LF',
    body: env('customer.settings_changed', { customerId: 'admin', region: 'ap', integrations: ['salesforce\r\nx'] }),
    expect: { dlq: 'ingress-dlq', code: 'invalid_target' },
  },
];

/** Hostile bodies straight on the patches FIFO (a replay, a bug, a hand-sent message). */
const PATCH_CASES: { name: string; body: string; group: string; expect: Outcome }[] = [
  { name: 'not JSON', body: 'not json at all', group: 'g-text', expect: { dlq: 'patches-dlq', code: 'invalid_patch_message' } },
  {
    name: 'wrong version and types',
    body: JSON.stringify({ v: 2, target: 'acme', patch: [], event: null }),
    group: 'g-types',
    expect: { dlq: 'patches-dlq', code: 'invalid_patch_message' },
  },
  {
    name: 'target id with CR/LF',
    body: JSON.stringify({
      v: 1,
      target: { connectionId: 'acme\r\n', providerConfigKey: 'salesforce' },
      patch: { a: 1 },
      event: { id: 'pm-1', source: 's', detailType: 'd', time: TIME },
    }),
    group: 'g-crlf',
    expect: { dlq: 'patches-dlq', code: 'invalid_patch_message' },
  },
  {
    name: 'deeply nested patch value',
    body: `{"v":1,"target":{"connectionId":"admin","providerConfigKey":"salesforce"},"patch":{"deep":${deep(50_000)}},"event":{"id":"pm-2","source":"s","detailType":"d","time":"${TIME}"}}`,
    group: connectionKey({ connectionId: 'admin', providerConfigKey: 'salesforce' }),
    expect: { dlq: 'patches-dlq', code: 'invalid_patch_message' },
  },
  {
    name: '__proto__ key in the patch',
    body: `{"v":1,"target":{"connectionId":"acme/eu x@y.com","providerConfigKey":"salesforce"},"patch":{"__proto__":{"polluted":true},"region":"eu"},"event":{"id":"pm-3","source":"s","detailType":"d","time":"${TIME}"}}`,
    group: connectionKey({ connectionId: 'acme/eu x@y.com', providerConfigKey: 'salesforce' }),
    expect: { applied: [sf('acme/eu x@y.com', { region: 'eu' })] },
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
    connections: [
      ...SEEDED.map((connectionId) => ({ connectionId, providerConfigKey: 'salesforce', metadata: null })),
      { connectionId: 'acme', providerConfigKey: 'hubspot', metadata: null },
    ],
    route: { onInvocation: (r) => invocations.push({ stage: 'route', r }) },
    apply: { onInvocation: (r) => invocations.push({ stage: 'apply', r }) },
  });
  // The deep patch first, in a batch with healthy messages of other groups.
  for (let i = 0; i < PATCH_CASES.length; i += 10) {
    await p.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: p.queues.patchesUrl,
        Entries: PATCH_CASES.slice(i, i + 10).map((c, j) => ({
          Id: String(j),
          MessageBody: c.body,
          MessageGroupId: c.group,
          MessageDeduplicationId: randomUUID(),
        })),
      }),
    );
  }
  sent = await p.send(CASES.map((c) => c.body));
  await p.drain({ timeoutMs: 60_000 });
  dlq = await p.dlq();
}, 120_000);

afterAll(async () => {
  await p?.stop();
  capture?.stop();
});

/** The DLQ messages of one case: by original body, or (for patch messages route made) by event id. */
function dlqFor(body: string): DlqMessage[] {
  const eventId = /"id":"(h-[0-9a-f-]{36})"/.exec(body)?.[1];
  return dlq.filter(
    (m) =>
      m.envelope?.originals.some(
        (o) =>
          o.body === body ||
          (o.truncated === true && body.startsWith(o.body)) ||
          (eventId !== undefined && o.body.includes(`"id":"${eventId}"`)),
      ) ?? m.body === body,
  );
}

describe('hostile input through the real handlers', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const parked = dlqFor(c.body);
    if ('dlq' in c.expect) {
      expect(parked, 'exactly one DLQ message').toHaveLength(1);
      const m = parked[0]!;
      expect(m.queue).toBe(c.expect.dlq);
      expect(m.envelope?.error.code).toBe(c.expect.code);
      expect(m.envelope?.error.message.length).toBeGreaterThan(10);
      expect(m.envelope?.error.retryable).toBe(false);
    } else {
      expect(parked.map((m) => m.envelope?.error)).toEqual([]);
      for (const t of c.expect.applied) expect(p.nango!.metadataOf(t.connectionId, t.providerConfigKey)).toMatchObject(t.has);
    }
  });

  it.each(PATCH_CASES.map((c) => [c.name, c] as const))('on the patches queue: %s', (_name, c) => {
    const parked = dlqFor(c.body);
    if ('dlq' in c.expect) {
      expect(parked).toHaveLength(1);
      expect(parked[0]!.queue).toBe('patches-dlq');
      expect(parked[0]!.envelope?.error.code).toBe(c.expect.code);
    } else {
      expect(parked).toEqual([]);
      for (const t of c.expect.applied) expect(p.nango!.metadataOf(t.connectionId, t.providerConfigKey)).toMatchObject(t.has);
    }
  });

  it('every event was handled exactly once: no lost body, nothing retried, no batch failed', () => {
    expect(sent).toHaveLength(CASES.length);
    const failed = invocations.filter(({ r }) => r.outcome !== 'ok');
    expect(failed.map(({ stage, r }) => `${stage}: ${r.outcome} ${String((r.error as Error | undefined)?.message ?? '')}`)).toEqual([]);
    expect(p.route.stats()).toMatchObject({ errors: 0, timeouts: 0, invalidResponses: 0, crashes: 0, failures: 0 });
    expect(p.apply.stats()).toMatchObject({ errors: 0, timeouts: 0, invalidResponses: 0, crashes: 0, failures: 0 });
    const expectedDlq = [...CASES, ...PATCH_CASES].filter((c) => 'dlq' in c.expect).length;
    expect(dlq).toHaveLength(expectedDlq);
  });

  it('sent no request to any path but the metadata routes, each naming a connection it was meant for', () => {
    const allowed = new Set(SEEDED);
    expect(p.nango!.requests.length).toBeGreaterThan(0);
    for (const r of p.nango!.requests) {
      expect(r.status, `${r.method} ${r.path}`).toBe(200);
      if (r.method === 'GET' && r.path === '/connections') {
        expect(allowed.has(r.query['connectionId']!)).toBe(true);
      } else if (r.method === 'GET') {
        const m = /^\/connections\/([^/?#\s]+)$/.exec(r.path);
        expect(m, r.path).not.toBeNull();
        expect(m![1]).not.toMatch(/^\.+$/);
        expect(allowed.has(decodeURIComponent(m![1]!))).toBe(true);
      } else {
        expect(r.method).toBe('PATCH');
        expect(r.path).toBe('/connections/metadata');
        expect(allowed.has((r.body as { connection_id: string }).connection_id)).toBe(true);
      }
    }
    // The connections a mangled path would hit stayed untouched.
    expect(p.nango!.metadataOf('admin', 'salesforce')).toBeNull();
  });

  it('left Object.prototype as it was and never printed the key', () => {
    expect(prototypeSnapshot()).toEqual(proto);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'plan')).toBe(false);
    expect(capture.leaks()).toBe(0);
    for (const m of dlq) expect(m.body).not.toContain(KEY);
  });
});
