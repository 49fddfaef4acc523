/**
 * The Nango stand-in's version 2 surface over real HTTP: GET /connections filters and paging as
 * Nango's controller has them, POST /connections (import) with tags, the admin API, signed auth
 * webhooks with retries, and the fault that echoes the Authorization header.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOnLoopback, type LoopbackServer } from '../../../local/standins/loopback-server.ts';
import { startNangoStandin, type NangoStandin, type NangoStandinOptions } from '../../../local/standins/nango.ts';
import { call } from './http.ts';

const KEY = randomUUID();
const SIGNING = 'whsec-test-signing-key';
let nango: NangoStandin | undefined;
let receiver: LoopbackServer | undefined;

afterEach(async () => {
  await nango?.close();
  await receiver?.close();
  nango = undefined;
  receiver = undefined;
});

async function start(o: Partial<NangoStandinOptions> = {}): Promise<NangoStandin> {
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: [
      { connectionId: 'u-1', providerConfigKey: 'hubspot', tags: { organization_id: 'acme', end_user_id: 'ann' }, metadata: { a: 1 } },
      { connectionId: 'u-2', providerConfigKey: 'salesforce', tags: { organization_id: 'acme', end_user_id: 'bob' } },
      { connectionId: 'u-3', providerConfigKey: 'hubspot', tags: { organization_id: 'ACME' } },
      { connectionId: 'u-4', providerConfigKey: 'hubspot', tags: { Organization_Id: 'globex' } },
      { connectionId: 'acme-corp', providerConfigKey: 'hubspot' },
    ],
    ...o,
  });
  return nango;
}

const list = (n: NangoStandin, query: string) => call(n.url, 'GET', `/connections${query}`, { key: KEY });
const ids = (r: { json: { connections: Array<{ connection_id: string }> } }) => r.json.connections.map((c) => c.connection_id);

describe('GET /connections filters', () => {
  it('tags[k]=v is an AND of all pairs, values case-sensitive, keys stored lowercase', async () => {
    const n = await start();
    expect(ids(await list(n, '?tags[organization_id]=acme'))).toEqual(['u-2', 'u-1']);
    expect(ids(await list(n, '?tags[organization_id]=acme&tags[end_user_id]=bob'))).toEqual(['u-2']);
    expect(ids(await list(n, '?tags[organization_id]=ACME'))).toEqual(['u-3']);
    // Keys are normalised to lowercase on both sides, as Nango does.
    expect(ids(await list(n, '?tags[organization_id]=globex'))).toEqual(['u-4']);
    expect(ids(await list(n, '?tags[ORGANIZATION_ID]=globex'))).toEqual(['u-4']);
    expect(ids(await list(n, `?${new URLSearchParams({ 'tags[organization_id]': 'acme' })}`))).toEqual(['u-2', 'u-1']);
    const first = (await list(n, '?tags[end_user_id]=ann')).json.connections[0];
    expect(first).toMatchObject({ connection_id: 'u-1', tags: { organization_id: 'acme', end_user_id: 'ann' }, metadata: { a: 1 } });
  });

  it('connectionId is exact, integrationId a comma list (trimmed), search a partial id match', async () => {
    const n = await start();
    expect(ids(await list(n, '?connectionId=u-1'))).toEqual(['u-1']);
    expect(ids(await list(n, '?integrationId=salesforce'))).toEqual(['u-2']);
    expect(ids(await list(n, '?integrationId=salesforce,%20hubspot&tags[organization_id]=acme'))).toEqual(['u-2', 'u-1']);
    expect(ids(await list(n, '?search=ACME'))).toEqual(['acme-corp']);
  });

  it('lists the newest connection first, with `created` at an explicit +00:00 offset, as Nango does', async () => {
    const n = await start({ connections: [] });
    await n.createConnection({ connectionId: 'older', providerConfigKey: 'hubspot' });
    await n.createConnection({ connectionId: 'newer', providerConfigKey: 'hubspot' });
    const listed = (await list(n, '')).json.connections as Array<{ id: number; connection_id: string; created: string }>;
    expect(listed.map((c) => c.connection_id)).toEqual(['newer', 'older']);
    expect(listed[0]!.id).toBeGreaterThan(listed[1]!.id);
    for (const c of listed) expect(c.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
  });

  it('pages with limit and a 0-based page, newest first', async () => {
    const n = await start({ connections: Array.from({ length: 7 }, (_, i) => ({ connectionId: `c${i}`, providerConfigKey: 'hubspot' })) });
    expect(ids(await list(n, '?limit=3&page=0'))).toEqual(['c6', 'c5', 'c4']);
    expect(ids(await list(n, '?limit=3&page=1'))).toEqual(['c3', 'c2', 'c1']);
    expect(ids(await list(n, '?limit=3&page=2'))).toEqual(['c0']);
    expect(ids(await list(n, '?limit=3&page=3'))).toEqual([]);
    expect(ids(await list(n, ''))).toHaveLength(7);
  });

  it('400 invalid_query_params for unknown parameters and bad values, as the strict schema answers', async () => {
    const n = await start();
    for (const q of [
      '?limit=0',
      '?limit=2001',
      '?limit=abc',
      '?page=-1',
      '?unknown=1',
      '?tags=acme',
      '?connectionId=',
      `?tags[k]=${'v'.repeat(256)}`,
      `?${Array.from({ length: 11 }, (_, i) => `tags[k${i}]=v`).join('&')}`,
      '?tags[1bad]=v',
      '?tags[a]=1&tags[A]=2',
      '?connectionId=a&connectionId=b',
    ]) {
      const r = await list(n, q);
      expect(r.status, q).toBe(400);
      expect(r.json.error.code).toBe('invalid_query_params');
      expect(Array.isArray(r.json.error.errors)).toBe(true);
    }
    expect((await list(n, '?limit=2000&page=0')).status).toBe(200);
  });
});

describe('POST /connections (import)', () => {
  const body = (extra: Record<string, unknown> = {}) => ({
    provider_config_key: 'hubspot',
    connection_id: 'imported',
    credentials: { type: 'OAUTH2', access_token: 'fake-access-token' },
    tags: { Organization_Id: 'acme' },
    metadata: { seeded: true },
    ...extra,
  });

  it('creates a connection with lowercased tags and metadata, answers 201, never records credentials', async () => {
    const n = await start();
    const r = await call(n.url, 'POST', '/connections', { key: KEY, body: body() });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ connection_id: 'imported', provider_config_key: 'hubspot', tags: { organization_id: 'acme' } });
    expect(ids(await list(n, '?tags[organization_id]=acme'))).toContain('imported');
    expect(n.metadataOf('imported', 'hubspot')).toEqual({ seeded: true });
    expect(JSON.stringify(n.requests)).not.toContain('fake-access-token');
  });

  it('refuses bad bodies (400 invalid_body) and any query parameter (400 invalid_query_params)', async () => {
    const n = await start();
    for (const b of [
      body({ credentials: undefined }),
      body({ credentials: { type: 'OAUTH2' } }),
      body({ tags: { a: 'x'.repeat(256) } }),
      body({ tags: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) }),
      body({ provider_config_key: undefined }),
      body({ connection_id: 'line\nbreak' }),
    ]) {
      const r = await call(n.url, 'POST', '/connections', { key: KEY, body: b });
      expect(r.status, JSON.stringify(b)).toBe(400);
      expect(r.json.error.code).toBe('invalid_body');
    }
    const q = await call(n.url, 'POST', '/connections?x=1', { key: KEY, body: body() });
    expect(q.status).toBe(400);
    expect(q.json.error.code).toBe('invalid_query_params');
    expect(n.metadataOf('imported', 'hubspot')).toBeUndefined();
  });
});

describe('PATCH /connections/{connectionId} (edit a connection)', () => {
  it('re-tags (keys lowercased), answers 200 {success: true}, sends no webhook: the list shows the re-tag', async () => {
    const rx = await startReceiver();
    const n = await start({ webhook: { url: rx.url, signingKey: SIGNING } });
    const path = `/connections/${encodeURIComponent('u-1')}?provider_config_key=hubspot`;
    const r = await call(n.url, 'PATCH', path, { key: KEY, body: { tags: { Organization_Id: 'beta' } } });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toEqual({ success: true });
    expect(ids(await list(n, '?tags[organization_id]=beta'))).toEqual(['u-1']);
    expect(ids(await list(n, '?tags[organization_id]=acme'))).toEqual(['u-2']);
    await n.webhooksSettled();
    expect(rx.got).toEqual([]);
  });

  it('404 unknown_connection for an unknown connection, 400 without provider_config_key or with bad tags', async () => {
    const n = await start();
    const unknown = await call(n.url, 'PATCH', '/connections/nope?provider_config_key=hubspot', { key: KEY, body: { tags: {} } });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('unknown_connection');
    const noKey = await call(n.url, 'PATCH', '/connections/u-1', { key: KEY, body: { tags: {} } });
    expect(noKey.status).toBe(400);
    expect(noKey.json.error.code).toBe('invalid_query_params');
    const badTags = await call(n.url, 'PATCH', '/connections/u-1?provider_config_key=hubspot', { key: KEY, body: { tags: { '1x': 'a' } } });
    expect(badTags.status).toBe(400);
    expect(ids(await list(n, '?tags[organization_id]=acme'))).toEqual(['u-2', 'u-1']);
  });
});

describe('auth webhook headers', () => {
  it('X-Nango-Signature (sha256 of key + body) beside X-Nango-Hmac-Sha256', async () => {
    const rx = await startReceiver();
    const n = await start({ webhook: { url: rx.url, signingKey: SIGNING } });
    n.createConnection({ connectionId: 'signed', providerConfigKey: 'hubspot' });
    await n.webhooksSettled();
    const g = rx.got[0]!;
    expect(g.headers['x-nango-signature']).toBe(createHash('sha256').update(`${SIGNING}${g.raw}`).digest('hex'));
  });
});

/** A webhook receiver that answers with the statuses given, in turn (then 200). */
async function startReceiver(statuses: number[] = []) {
  const got: { headers: http.IncomingHttpHeaders; raw: string }[] = [];
  receiver = await listenOnLoopback(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    got.push({ headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(statuses.shift() ?? 200);
    res.end();
  });
  return { url: `${receiver.url}/nango-webhook`, got };
}

describe('auth webhooks and the admin API', () => {
  it('createConnection sends a signed creation webhook; reauthorize an override; both recorded', async () => {
    const rx = await startReceiver();
    const n = await start({ webhook: { url: rx.url, signingKey: SIGNING } });
    const listed = n.createConnection({ connectionId: 'new-uuid', providerConfigKey: 'hubspot', tags: { organization_id: 'acme' } });
    expect(listed).toMatchObject({ connection_id: 'new-uuid', tags: { organization_id: 'acme' }, metadata: null });
    n.reauthorize('new-uuid', 'hubspot');
    await n.webhooksSettled();
    expect(rx.got).toHaveLength(2);
    for (const g of rx.got) {
      expect(g.headers['x-nango-hmac-sha256']).toBe(createHmac('sha256', SIGNING).update(g.raw).digest('hex'));
      expect(g.headers['content-type']).toBe('application/json');
    }
    expect(JSON.parse(rx.got[0]!.raw)).toEqual({
      type: 'auth',
      operation: 'creation',
      connectionId: 'new-uuid',
      providerConfigKey: 'hubspot',
      provider: 'hubspot',
      environment: 'dev',
      success: true,
      authMode: 'OAUTH2',
      tags: { organization_id: 'acme' },
    });
    expect(JSON.parse(rx.got[1]!.raw)).toMatchObject({ operation: 'override', connectionId: 'new-uuid' });
    expect(n.webhookDeliveries().map((d) => [d.body.operation, d.delivered, d.attempts.length])).toEqual([
      ['creation', true, 1],
      ['override', true, 1],
    ]);
    expect(n.adminActions().map((a) => a.action)).toEqual(['createConnection', 'reauthorize']);
    expect(() => n.createConnection({ connectionId: 'new-uuid', providerConfigKey: 'hubspot' })).toThrow(/exists/);
  });

  it('retries a failed delivery twice, then gives up; an import sends one too', async () => {
    const rx = await startReceiver([500, 503, 502]);
    const n = await start({ webhook: { url: rx.url, signingKey: SIGNING, backoffMs: 10 } });
    n.createConnection({ connectionId: 'flaky', providerConfigKey: 'hubspot' });
    await n.webhooksSettled();
    expect(n.webhookDeliveries()[0]).toMatchObject({ delivered: false, attempts: [{ status: 500 }, { status: 503 }, { status: 502 }] });
    const r = await call(n.url, 'POST', '/connections', {
      key: KEY,
      body: { provider_config_key: 'salesforce', credentials: { type: 'API_KEY', apiKey: 'k' }, tags: { organization_id: 'acme' } },
    });
    expect(r.status).toBe(201);
    await n.webhooksSettled();
    const last = n.webhookDeliveries().at(-1)!;
    expect(last).toMatchObject({
      delivered: true,
      body: { operation: 'creation', authMode: 'API_KEY', connectionId: r.json.connection_id },
    });
  });

  it('an import over an existing connection keeps its id and creation time and sends an override', async () => {
    const rx = await startReceiver();
    const n = await start({ webhook: { url: rx.url, signingKey: SIGNING } });
    const before = (await list(n, '?connectionId=u-1')).json.connections[0];
    const r = await call(n.url, 'POST', '/connections', {
      key: KEY,
      body: { provider_config_key: 'hubspot', connection_id: 'u-1', credentials: { type: 'NONE' }, tags: { organization_id: 'initech' } },
    });
    expect(r.status).toBe(201);
    const after = (await list(n, '?connectionId=u-1')).json.connections[0];
    expect(after).toMatchObject({ id: before.id, created: before.created, tags: { organization_id: 'initech' } });
    await n.webhooksSettled();
    expect(n.webhookDeliveries().map((d) => [d.body.operation, d.body.authMode])).toEqual([['override', 'NONE']]);
  });

  it("the operator's /_standin/connections creates a connection and announces it", async () => {
    const rx = await startReceiver();
    const n = await start({ webhook: { url: rx.url, signingKey: SIGNING } });
    const r = await call(n.url, 'POST', '/_standin/connections', {
      body: { connectionId: 'by-hand', providerConfigKey: 'hubspot', tags: { organization_id: 'acme' } },
    });
    expect(r.status).toBe(201);
    expect(ids(await list(n, '?tags[organization_id]=acme'))).toContain('by-hand');
    await n.webhooksSettled();
    expect(rx.got.map((g) => JSON.parse(g.raw).connectionId)).toEqual(['by-hand']);
    const bad = await call(n.url, 'POST', '/_standin/connections', {
      body: { connectionId: 'x', providerConfigKey: 'hubspot', tags: { '1': 'v' } },
    });
    expect(bad.status).toBe(400);
  });

  it('setMetadataBehindOurBack replaces the metadata whole, as the dashboard does, and is recorded', async () => {
    const n = await start();
    n.setMetadataBehindOurBack('u-1', 'hubspot', { theirs: true });
    expect(n.metadataOf('u-1', 'hubspot')).toEqual({ theirs: true });
    expect((await list(n, '?connectionId=u-1')).json.connections[0].metadata).toEqual({ theirs: true });
    expect(n.adminActions()).toEqual([
      {
        at: expect.any(Number),
        action: 'setMetadataBehindOurBack',
        connectionId: 'u-1',
        providerConfigKey: 'hubspot',
        metadata: { theirs: true },
      },
    ]);
    expect(n.requests).toHaveLength(1);
    expect(() => n.setMetadataBehindOurBack('nobody', 'hubspot', {})).toThrow(/no connection/);
  });

  it('close() stops a delivery that keeps failing', async () => {
    const n = await start({ webhook: { url: 'http://127.0.0.1:9/unreachable', signingKey: SIGNING, backoffMs: 60_000 } });
    n.createConnection({ connectionId: 'x', providerConfigKey: 'hubspot' });
    const t0 = Date.now();
    await n.close();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(n.webhookDeliveries()[0]!.delivered).toBe(false);
    nango = undefined;
  });
});

describe('echoAuth fault', () => {
  it.each(['json', 'html'] as const)('quotes the Authorization header in a %s answer', async (format) => {
    const n = await start({ fault: () => ({ kind: 'echoAuth', format }) });
    const r = await list(n, '');
    expect(r.status).toBe(400);
    expect(r.text).toContain(KEY);
    if (format === 'json') expect(r.json.error.errors[0].value).toBe(`Bearer ${KEY}`);
    else expect(String(r.headers['content-type'])).toMatch(/^text\/html/);
    expect(JSON.stringify(n.requests)).not.toContain(KEY);
  });
});
