/**
 * The rate headers of an answer count even when its body cannot be read: the gate learns the window
 * from the headers, which arrived, not from whether the body did. A first 2xx whose body is cut must
 * neither leave the gate believing the server does not meter nor lose that the window is spent.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Failure } from '#commons/failure';
import { HttpNangoClient } from '#commons/nango/http-client';
import { staticKeyProvider } from '#commons/secrets';

const KEY = randomUUID();
let hits = 0;
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    hits++;
    // The window is spent and ends in 30 s; the body starts, then the connection drops.
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': '1000',
      'x-ratelimit-limit': '10',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 30),
    });
    res.write('{"connections":[');
    setTimeout(() => res.destroy(), 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

it('a 2xx whose body is cut still paces by its rate headers', async () => {
  const client = new HttpNangoClient({ host: url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
  try {
    await expect(client.listConnections({}, { limit: 10, page: 0 }, { deadline: Date.now() + 5_000 })).rejects.toBeInstanceOf(Failure);
    expect(hits).toBe(1);
    // The window is spent for 30 s more: the next request is refused locally, not sent.
    const second = await client.listConnections({}, { limit: 10, page: 0 }, { deadline: Date.now() + 2_000 }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(Failure);
    expect((second as Failure).code).toBe('rate_limited_locally');
    expect(hits).toBe(1);
  } finally {
    await client.close();
  }
});
