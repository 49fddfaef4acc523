/**
 * A listed connection's tags are read entry by entry: one value that is not a string (a number, a
 * null) is dropped, never the whole tag set. Dropping the set would make the connection look
 * untagged: route would refuse its customer's listing as "filter ignored", and the sweep would see
 * the connection leave every subject and clear the keys it holds.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HttpNangoClient } from '#commons/nango/http-client';
import { staticKeyProvider } from '#commons/secrets';

const KEY = randomUUID();
let server: Server;
let url: string;

const listed = {
  connections: [
    {
      id: 1,
      connection_id: 'acme-gh',
      provider_config_key: 'github',
      provider: 'github',
      errors: [],
      end_user: null,
      tags: { organization_id: 'acme', seats: 5, region: null },
      metadata: { plan: 'pro' },
      created: '2026-12-07T03:10:00.123+00:00',
    },
  ],
};

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(listed));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

it('keeps the string tags of a connection whose other tag values are not strings', async () => {
  const client = new HttpNangoClient({ host: url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
  try {
    const got = await client.listConnections(
      { tags: { organization_id: 'acme' } },
      { limit: 10, page: 0 },
      { deadline: Date.now() + 5_000 },
    );
    expect(got).toHaveLength(1);
    expect(got[0]!.tags).toEqual({ organization_id: 'acme' });
    expect(got[0]!.metadata).toEqual({ plan: 'pro' });
  } finally {
    await client.close();
  }
});
