/**
 * Every request the Nango client sends, checked against Nango's own OpenAPI spec: the client talks
 * to the stand-in, the stand-in records the wire request, the contract validates it.
 *
 * Two steps between the wire and the validator: `tags[key]=value` is the wire form of the spec's
 * deepObject `tags` parameter, so it is read back into `{ tags: { key: value } }` as Nango's query
 * parser does; and `integrationId`, which Nango's list controller accepts (a comma list) but the
 * spec does not declare, is checked on its own and removed before validation.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpNangoClient } from '#commons/nango/http-client';
import { listAllConnections } from '#commons/nango/list';
import { staticKeyProvider } from '#commons/secrets';
import { startNangoStandin, type NangoStandin, type RecordedRequest } from '../../local/standins/nango.ts';
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
      ['salesforce', 'hub spot:eu'].map((providerConfigKey) => ({
        connectionId,
        providerConfigKey,
        metadata: {},
        tags: { organization_id: 'acme' },
      })),
    ),
  });
});
afterAll(() => nango.close());

/** The recorded (flat) query as a deepObject-aware parser reads it; integrationId set apart. */
function forContract(req: RecordedRequest): { req: RecordedRequest; integrationId: string | undefined } {
  const query: Record<string, unknown> = {};
  const tags: Record<string, string> = {};
  let integrationId: string | undefined;
  for (const [k, v] of Object.entries(req.query)) {
    const m = /^tags\[(.+)\]$/.exec(k);
    if (m) tags[m[1]!] = v;
    else if (k === 'integrationId') integrationId = v;
    else query[k] = v;
  }
  if (Object.keys(tags).length) query['tags'] = tags;
  return { req: { ...req, query: query as Record<string, string> }, integrationId };
}

describe.each(['current', 'legacy'] as const)('%s endpoint', (endpoint) => {
  it('sends only requests the spec accepts', async () => {
    const client = new HttpNangoClient({ host: nango.url, endpoint, keys: staticKeyProvider(KEY), timeoutMs: 5000 });
    const from = nango.requests.length;
    const call = { deadline: Date.now() + 10_000 };
    for (const connectionId of IDS) {
      for (const providerConfigKey of ['salesforce', 'hub spot:eu']) {
        await client.patchMetadata({ connectionId, providerConfigKey }, { plan: 'pro', seats: 3, flags: { a: true }, gone: null }, call);
      }
      await client.listConnections({ connectionId }, { limit: 100, page: 0 }, call);
    }
    const tagged = await client.listConnections(
      { tags: { organization_id: 'acme', 'end.user/id': 'a&b=c' }, integrationIds: ['salesforce', 'hub spot:eu'] },
      { limit: 2000, page: 3 },
      call,
    );
    expect(tagged).toEqual([]);
    const all = await listAllConnections(client, { tags: { organization_id: 'acme' } }, { pageSize: 3, max: 100, deadline: call.deadline });
    expect(all).toHaveLength(IDS.length * 2);
    await client.close();
    const sent = nango.requests.slice(from);
    expect(sent).toHaveLength(IDS.length * 3 + 1 + 3);
    const integrationIds = new Set<string>();
    for (const recorded of sent) {
      const { req, integrationId } = forContract(recorded);
      if (integrationId !== undefined) integrationIds.add(integrationId);
      const r = contract.validateRequest(req);
      expect(r.errors, `${req.method} ${req.path} ${JSON.stringify(req.query)}`).toEqual([]);
      expect(r.valid).toBe(true);
      expect(recorded.status).toBeLessThan(300);
    }
    expect([...integrationIds]).toEqual(['salesforce,hub spot:eu']);
    // Metadata is read from the list endpoint: GET /connections/{id} returns (and may refresh) credentials.
    const ops = new Set(sent.map((r) => contract.validateRequest(forContract(r).req).operation));
    expect([...ops].sort()).toEqual(
      endpoint === 'current'
        ? ['GET /connections', 'PATCH /connections/metadata']
        : ['GET /connections', 'PATCH /connection/{connectionId}/metadata'],
    );
  });
});

it('integrationId is the one list parameter beyond the spec, and the deepObject check can fail', () => {
  const base = { method: 'GET', path: '/connections', headers: { authorization: 'Bearer REDACTED' } };
  expect(contract.validateRequest({ ...base, query: { integrationId: 'a,b' } }).errors).toEqual([
    'query parameter "integrationId" is not declared by GET /connections',
  ]);
  const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`tags[k${i}]`, 'v']));
  const r = contract.validateRequest(forContract({ ...base, n: 0, query: eleven, startedAt: 0, body: undefined }).req);
  expect(r.valid).toBe(false);
  expect(r.errors.join('\n')).toMatch(/tags must NOT have more than 10 properties/);
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
