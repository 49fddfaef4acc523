/**
 * The OpenAPI contract validator against Nango's spec: good metadata requests pass, broken ones
 * fail with a message naming the problem, and requests recorded by the Nango stand-in can be checked.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadNangoContract, type ContractRequest } from '../../support/openapi-contract.ts';
import { startNangoStandin } from '../../../local/standins/nango.ts';
import { call } from './http.ts';

const json = { 'content-type': 'application/json', authorization: 'Bearer REDACTED' };
const current = (body: unknown, extra: Partial<ContractRequest> = {}): ContractRequest => ({
  method: 'PATCH',
  path: '/connections/metadata',
  query: {},
  headers: json,
  body,
  ...extra,
});
const legacy = (id: string, headers: Record<string, string>, body: unknown = { plan: 'pro' }): ContractRequest => ({
  method: 'PATCH',
  path: `/connection/${encodeURIComponent(id)}/metadata`,
  query: {},
  headers: { ...json, ...headers },
  body,
});

describe('Nango OpenAPI contract', () => {
  it('accepts a correct current-endpoint PATCH (one id or several) and POST', async () => {
    const c = await loadNangoContract();
    const one = c.validateRequest(current({ connection_id: 'acme/eu x@y.com', provider_config_key: 'hubspot', metadata: { plan: 'pro' } }));
    expect(one).toEqual({ valid: true, errors: [], operation: 'PATCH /connections/metadata' });
    expect(c.validateRequest(current({ connection_id: ['a', 'b'], provider_config_key: 'hubspot', metadata: {} })).valid).toBe(true);
    expect(
      c.validateRequest(current({ connection_id: 'a', provider_config_key: 'hubspot', metadata: {} }, { method: 'POST' })).operation,
    ).toBe('POST /connections/metadata');
  });

  it('accepts a correct legacy PATCH with a percent-encoded id and Provider-Config-Key', async () => {
    const c = await loadNangoContract();
    const r = c.validateRequest(legacy('acme/eu x@y.com', { 'Provider-Config-Key': 'hubspot' }));
    expect(r).toEqual({ valid: true, errors: [], operation: 'PATCH /connection/{connectionId}/metadata' });
  });

  it('rejects a current PATCH without metadata, naming it', async () => {
    const c = await loadNangoContract();
    const r = c.validateRequest(current({ connection_id: 'a', provider_config_key: 'hubspot' }));
    expect(r.valid).toBe(false);
    expect(r.errors.join('\n')).toMatch(/metadata/);
  });

  it('rejects a legacy PATCH without the Provider-Config-Key header, naming it', async () => {
    const c = await loadNangoContract();
    const r = c.validateRequest(legacy('acme', {}));
    expect(r.valid).toBe(false);
    expect(r.errors.join('\n')).toMatch(/provider-config-key/i);
  });

  it('rejects wrong types, undeclared query parameters, other content types, missing bearer auth, unknown routes', async () => {
    const c = await loadNangoContract();
    const body = { connection_id: 'a', provider_config_key: 'hubspot', metadata: { x: 1 } };
    const cases: Array<[ContractRequest, RegExp]> = [
      [current({ ...body, metadata: 'text' }), /metadata.*object|object/],
      [current({ ...body, connection_id: 42 }), /connection_id/],
      [current(body, { query: { provider_config_key: 'hubspot' } }), /query parameter "provider_config_key"/],
      [current(body, { headers: { ...json, 'content-type': 'text/plain' } }), /content-type "text\/plain"/],
      [current(body, { headers: { 'content-type': 'application/json' } }), /bearerAuth/],
      [{ method: 'PATCH', path: '/connection/acme/eu/metadata', headers: json, body: {} }, /no operation/],
    ];
    for (const [req, message] of cases) {
      const r = c.validateRequest(req);
      expect(r.valid, JSON.stringify(req)).toBe(false);
      expect(r.errors.join('\n')).toMatch(message);
    }
  });

  it('accepts the GET connection routes the route stage uses', async () => {
    const c = await loadNangoContract();
    expect(c.validateRequest({ method: 'GET', path: '/connections', query: { connectionId: 'acme' }, headers: json }).valid).toBe(true);
    const one = c.validateRequest({
      method: 'GET',
      path: '/connections/acme%2Feu',
      query: { provider_config_key: 'hubspot' },
      headers: json,
    });
    expect(one.errors).toEqual([]);
  });

  it('accepts the list with deepObject tags and paging, and an import with tags; refuses 11 tags', async () => {
    const c = await loadNangoContract();
    const list = (query: Record<string, unknown>) =>
      c.validateRequest({ method: 'GET', path: '/connections', query: query as Record<string, string>, headers: json });
    expect(list({ tags: { organization_id: 'acme', end_user_id: 'u1' }, limit: '2000', page: '0' }).errors).toEqual([]);
    expect(list({ tags: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) }).valid).toBe(false);
    const imported = c.validateRequest({
      method: 'POST',
      path: '/connections',
      query: {},
      headers: json,
      body: {
        provider_config_key: 'hubspot',
        connection_id: 'acme',
        credentials: { type: 'OAUTH2', access_token: 't' },
        tags: { organization_id: 'acme' },
      },
    });
    expect(imported.errors).toEqual([]);
    expect(imported.operation).toBe('POST /connections');
  });

  it('checks requests recorded by the Nango stand-in', async () => {
    const key = randomUUID();
    const nango = await startNangoStandin({ secretKey: key, connections: [{ connectionId: 'acme/eu', providerConfigKey: 'hubspot' }] });
    try {
      await call(nango.url, 'PATCH', '/connections/metadata', {
        key,
        body: { connection_id: 'acme/eu', provider_config_key: 'hubspot', metadata: { a: 1 } },
      });
      await call(nango.url, 'PATCH', `/connection/${encodeURIComponent('acme/eu')}/metadata`, {
        key,
        body: { b: 2 },
        headers: { 'provider-config-key': 'hubspot' },
      });
      await call(nango.url, 'PATCH', `/connection/${encodeURIComponent('acme/eu')}/metadata`, { key, body: { c: 3 } });
      const c = await loadNangoContract();
      const results = nango.requests.map((r) => c.validateRequest(r));
      expect(results.map((r) => r.valid)).toEqual([true, true, false]);
      expect(nango.requests.map((r) => r.status)).toEqual([200, 200, 500]);
    } finally {
      await nango.close();
    }
  });

  it('fails clearly when the spec file is absent', async () => {
    await expect(loadNangoContract('/nonexistent/openapi.yaml')).rejects.toThrow(
      /Nango OpenAPI spec not found at \/nonexistent\/openapi.yaml/,
    );
  });
});
