/**
 * Every request the Nango client sends, checked against Nango's own OpenAPI spec: the client talks
 * to the stand-in, the stand-in records the wire request, the contract validates it.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpNangoClient } from '#commons/nango/http-client';
import { staticKeyProvider } from '#commons/secrets';
import { startNangoStandin, type NangoStandin } from '../../local/standins/nango.ts';
import { loadNangoContract, NANGO_OPENAPI_PATH, SHARED_OPENAPI_PATH, type NangoContract } from '../support/openapi-contract.ts';

const KEY = randomUUID();
const IDS = ['acme-corp', 'acme/eu x@y.com', '..', "o'brien {x} [y] |z| $w"];
let nango: NangoStandin;
let contract: NangoContract;

beforeAll(async () => {
  contract = await loadNangoContract();
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: IDS.flatMap((connectionId) =>
      ['salesforce', 'hub spot:eu'].map((providerConfigKey) => ({ connectionId, providerConfigKey, metadata: {} })),
    ),
  });
});
afterAll(() => nango.close());

describe.each(['current', 'legacy'] as const)('%s endpoint', (endpoint) => {
  it('sends only requests the spec accepts', async () => {
    const client = new HttpNangoClient({ host: nango.url, endpoint, keys: staticKeyProvider(KEY), timeoutMs: 5000 });
    const from = nango.requests.length;
    const call = { deadline: Date.now() + 10_000 };
    for (const connectionId of IDS) {
      for (const providerConfigKey of ['salesforce', 'hub spot:eu']) {
        await client.patchMetadata({ connectionId, providerConfigKey }, { plan: 'pro', seats: 3, flags: { a: true }, gone: null }, call);
        await client.getMetadata({ connectionId, providerConfigKey }, call);
      }
      await client.listIntegrations(connectionId, call);
    }
    await client.close();
    const sent = nango.requests.slice(from);
    expect(sent).toHaveLength(IDS.length * 5);
    for (const req of sent) {
      const r = contract.validateRequest(req);
      expect(r.errors, `${req.method} ${req.path}`).toEqual([]);
      expect(r.valid).toBe(true);
      expect(req.status).toBeLessThan(300);
    }
    // Metadata is read from the list endpoint: GET /connections/{id} returns (and may refresh) credentials.
    const ops = new Set(sent.map((r) => contract.validateRequest(r).operation));
    expect([...ops].sort()).toEqual(
      endpoint === 'current'
        ? ['GET /connections', 'PATCH /connections/metadata']
        : ['GET /connections', 'PATCH /connection/{connectionId}/metadata'],
    );
  });
});

it('catches a request that breaks the contract (the check can fail)', () => {
  const bad = contract.validateRequest({
    method: 'PATCH',
    path: '/connections/metadata',
    headers: { authorization: 'Bearer x', 'content-type': 'application/json' },
    body: { connection_id: 'a', provider_config_key: 'b' },
  });
  expect(bad.valid).toBe(false);
});

it.skipIf(!existsSync(SHARED_OPENAPI_PATH))('the vendored spec is shared/nango/openapi.yaml unchanged', () => {
  const vendored = readFileSync(NANGO_OPENAPI_PATH, 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith("# Nango's OpenAPI spec, copied") && !l.startsWith('# Copyright Nango Inc.'))
    .join('\n');
  expect(vendored).toBe(readFileSync(SHARED_OPENAPI_PATH, 'utf8'));
});
