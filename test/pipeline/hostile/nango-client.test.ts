/**
 * Hostile ids, tag values and patches through the real Nango client (undici) against the stand-in,
 * on both endpoints and both calls (PATCH metadata, GET /connections list). Each id or tag value is
 * either sent correctly encoded and reaches exactly its own connection, or refused before any
 * request with a permanent error; nothing ever reaches another path or another customer's
 * connections; no prototype is touched.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpNangoClient, type EndpointStyle } from '#commons/nango/http-client';
import { Failure } from '#commons/failure';
import { staticKeyProvider } from '#commons/secrets';
import type { MetadataPatch } from '#events/define';
import { startNangoStandin, type NangoStandin, type RecordedRequest } from '../../../local/standins/nango.ts';
import { prototypeSnapshot } from '../../unit/properties/arbitraries.ts';

const KEY = randomUUID();

/** Ids Nango allows that URLs mangle: each must reach its own connection. */
const WEIRD_BUT_VALID = [
  'acme/eu x@y.com',
  '..',
  '.',
  '../admin',
  'a/../../b',
  './.',
  '..\\..\\windows',
  `o'brien "q" {x} $y|z`,
  'semi;colon,comma=eq+plus~tilde[br]',
  ' leading and trailing ',
  '//double//slash//',
  'x'.repeat(255),
];

/** Ids Nango refuses (or that cannot be one id on a path): refused before any request. */
const INVALID = [
  ['CR/LF', 'acme\r\nX-Injected: 1'],
  ['LF', 'line\nfeed'],
  ['percent', '100%'],
  ['encoded dots', '%2e%2e%2fadmin'],
  ['unicode', 'ünïcødé'],
  ['emoji', 'acme😀'],
  ['CJK', '日本'],
  ['256 chars', 'x'.repeat(256)],
  ['empty', ''],
  ['query', 'acme?provider_config_key=hubspot'],
  ['fragment', 'acme#x'],
  ['tab', 'a\tb'],
  ['NUL', 'a\u0000b'],
  ['angle brackets', '<script>'],
] as const;

const INVALID_KEYS = [
  ['slash', '../salesforce'],
  ['CR/LF', 'salesforce\r\n'],
  ['unicode', 'sälesforce'],
  ['empty', ''],
  ['256 chars', 's'.repeat(256)],
] as const;

/** Tag values Nango stores as given (1..255 characters): each must select only its own connection. */
const HOSTILE_TAG_VALUES = [
  'a&b=c',
  'x]y[z',
  '#frag?q=1',
  '100%',
  'ünï 😀',
  ' spaced ',
  'tags[organization_id]=acme',
  '+plus+',
  'v'.repeat(255),
];

let nango: NangoStandin;
const clients: HttpNangoClient[] = [];
let proto: string[];

beforeAll(async () => {
  proto = prototypeSnapshot();
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: [
      ...WEIRD_BUT_VALID.map((connectionId) => ({ connectionId, providerConfigKey: 'salesforce', metadata: { marker: connectionId } })),
      // Where a mangled path would land: must never change.
      { connectionId: 'admin', providerConfigKey: 'salesforce', metadata: { marker: 'admin' } },
      { connectionId: 'b', providerConfigKey: 'salesforce', metadata: { marker: 'b' } },
      { connectionId: 'acme', providerConfigKey: 'salesforce', metadata: { marker: 'acme' } },
      { connectionId: 'acme', providerConfigKey: 'hubspot', metadata: { marker: 'acme' }, tags: { organization_id: 'acme' } },
      ...HOSTILE_TAG_VALUES.map((v) => ({ connectionId: `tagged:${v}`, providerConfigKey: 'hubspot', tags: { organization_id: v } })),
    ],
  });
});
beforeEach(() => nango.reset());
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await nango.close();
  // Nothing a hostile id or patch did reached Object.prototype.
  expect(prototypeSnapshot()).toEqual(proto);
});

function client(endpoint: EndpointStyle) {
  const c = new HttpNangoClient({ host: nango.url, endpoint, keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
  clients.push(c);
  return c;
}
const call = () => ({ deadline: Date.now() + 5_000 });

/** The one segment of a recorded raw path, checked to be safe to hand to any router. */
function segmentOf(r: RecordedRequest, prefix: string, suffix: string): string {
  expect(r.path.startsWith(prefix) && r.path.endsWith(suffix), `path ${r.path}`).toBe(true);
  const seg = r.path.slice(prefix.length, r.path.length - suffix.length);
  // One segment, no dot-segment, nothing a router or proxy would reinterpret.
  expect(seg).not.toMatch(/[/?#\s\\]/);
  expect(seg).not.toMatch(/^\.+$/);
  return decodeURIComponent(seg);
}

const others = (except: string) =>
  nango
    .connections()
    .filter((c) => !c.connectionId.startsWith('tagged:'))
    .filter((c) => !(c.connectionId === except && c.providerConfigKey === 'salesforce'))
    .every((c) => (c.metadata as { marker?: string } | null)?.marker === c.connectionId && Object.keys(c.metadata ?? {}).length === 1);

describe.each(['current', 'legacy'] as const)('hostile ids through the Nango client (%s endpoint)', (endpoint) => {
  it.each(WEIRD_BUT_VALID.map((id) => [JSON.stringify(id).slice(0, 40), id]))(
    'PATCH %s reaches exactly its own connection',
    async (_label, id) => {
      await client(endpoint).patchMetadata({ connectionId: id, providerConfigKey: 'salesforce' }, { touched: true }, call());
      expect(nango.requests).toHaveLength(1);
      const r = nango.requests[0]!;
      expect(r.status).toBe(200);
      if (endpoint === 'current') {
        expect(r.path).toBe('/connections/metadata');
        expect(r.query).toEqual({});
        expect((r.body as { connection_id: string }).connection_id).toBe(id);
      } else {
        expect(segmentOf(r, '/connection/', '/metadata')).toBe(id);
        expect(r.headers['provider-config-key']).toBe('salesforce');
      }
      expect(nango.metadataOf(id, 'salesforce')).toEqual({ marker: id, touched: true });
      expect(others(id)).toBe(true);
      nango.addConnection({ connectionId: id, providerConfigKey: 'salesforce', metadata: { marker: id } });
    },
  );

  it.each(WEIRD_BUT_VALID.map((id) => [JSON.stringify(id).slice(0, 40), id]))('list %s reads its own connection', async (_label, id) => {
    const listed = await client(endpoint).listConnections(
      { connectionId: id, integrationIds: ['salesforce'] },
      { limit: 10, page: 0 },
      call(),
    );
    expect(listed.map((c) => [c.connectionId, c.metadata])).toEqual([[id, { marker: id }]]);
    // The list endpoint (no credentials): the id travels as one query value, exactly.
    const r = nango.requests[0]!;
    expect(r.path).toBe('/connections');
    expect(r.query).toEqual({ connectionId: id, integrationId: 'salesforce', limit: '10', page: '0' });
  });

  it.each(HOSTILE_TAG_VALUES.map((v) => [JSON.stringify(v).slice(0, 40), v]))(
    'tag value %s selects exactly its own connection',
    async (_label, v) => {
      const listed = await client(endpoint).listConnections({ tags: { organization_id: v } }, { limit: 10, page: 0 }, call());
      expect(listed.map((c) => c.connectionId)).toEqual([`tagged:${v}`]);
      expect(nango.requests[0]!.query['tags[organization_id]']).toBe(v);
    },
  );

  it.each(INVALID)('refuses a connection id with %s before any request', async (_label, id) => {
    const c = client(endpoint);
    const target = { connectionId: id, providerConfigKey: 'salesforce' };
    for (const attempt of [
      () => c.patchMetadata(target, { touched: true }, call()),
      () => c.listConnections({ connectionId: id }, { limit: 10, page: 0 }, call()),
    ]) {
      const e = await attempt().then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(Failure);
      expect((e as Failure).code).toBe('invalid_connection_id');
      expect((e as Failure).retryable).toBe(false);
      expect((e as Failure).message).toMatch(/connection id/);
    }
    expect(nango.requests).toHaveLength(0);
    expect(others('')).toBe(true);
  });

  it.each(INVALID_KEYS)('refuses a provider config key with %s before any request', async (_label, key) => {
    const e = await client(endpoint)
      .patchMetadata({ connectionId: 'acme', providerConfigKey: key }, { touched: true }, call())
      .then(
        () => undefined,
        (x: unknown) => x,
      );
    expect((e as Failure).code).toBe('invalid_provider_config_key');
    expect(nango.requests).toHaveLength(0);
  });

  it('sends hostile patch content as data: __proto__/constructor keys, CR/LF and unicode values, deep and large values', async () => {
    const deep: unknown = JSON.parse(`${'['.repeat(500)}1${']'.repeat(500)}`);
    const patch = JSON.parse(
      JSON.stringify({
        header: 'x\r\nAuthorization: Bearer nope',
        ключ: '値😀',
        big: 'y'.repeat(1_000_000),
        deep,
        constructor: { prototype: { polluted: true } },
      }).replace(/^\{/, '{"__proto__":{"polluted":true},'),
    ) as MetadataPatch;
    await client(endpoint).patchMetadata({ connectionId: 'acme', providerConfigKey: 'hubspot' }, patch, call());
    expect(nango.requests).toHaveLength(1);
    expect(nango.requests[0]!.status).toBe(200);
    const stored = nango.metadataOf('acme', 'hubspot')!;
    expect(stored['header']).toBe('x\r\nAuthorization: Bearer nope');
    expect(stored['ключ']).toBe('値😀');
    expect((stored['big'] as string).length).toBe(1_000_000);
    expect(JSON.stringify(stored['deep'])).toBe(JSON.stringify(deep));
    expect(stored['constructor']).toEqual({ prototype: { polluted: true } });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(prototypeSnapshot()).toEqual(proto);
    nango.addConnection({
      connectionId: 'acme',
      providerConfigKey: 'hubspot',
      metadata: { marker: 'acme' },
      tags: { organization_id: 'acme' },
    });
  });
});
