/**
 * Every body read from Nango is bounded: a server that streams far more than the cap (an error page
 * of megabytes, a list page past its bound) gets a classified `response_too_large` with a bounded
 * excerpt, the client stops reading at the cap (the server sees the connection dropped), and memory
 * grows by about the cap, not by the answer. The server generates its body lazily: the test itself
 * never holds it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Failure } from '#commons/failure';
import { MAX_ERROR_BODY_BYTES, MAX_EXCERPT } from '#commons/nango/errors';
import { HttpNangoClient, MAX_LIST_PAGE_BYTES } from '#commons/nango/http-client';
import { staticKeyProvider } from '#commons/secrets';

const KEY = randomUUID();
const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

interface Plan {
  status: number;
  contentType: string;
  head: string;
  /** One repeated piece, until `total` bytes were offered. */
  piece: string;
  total: number;
}
let plan: Plan;
let written = 0;
let closed: Promise<void> = Promise.resolve();
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    written = 0;
    let done!: () => void;
    closed = new Promise((r) => (done = r));
    res.on('close', () => done());
    res.writeHead(plan.status, { 'content-type': plan.contentType });
    const block = Buffer.from(plan.piece.repeat(Math.ceil(CHUNK / plan.piece.length)).slice(0, CHUNK));
    res.write(plan.head);
    written += plan.head.length;
    // Written as the socket drains: a client that stops reading stops the server too.
    const pump = () => {
      while (written < plan.total && !res.destroyed) {
        written += block.length;
        if (!res.write(block)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const client = () => new HttpNangoClient({ host: url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 30_000 });
const soon = () => ({ deadline: Date.now() + 30_000 });

/** The peak of heap plus buffers while `fn` runs, above what it was before. */
async function peakGrowth<T>(fn: () => Promise<T>): Promise<{ result: T; growth: number }> {
  globalThis.gc?.();
  const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const before = used();
  let peak = before;
  const t = setInterval(() => (peak = Math.max(peak, used())), 5);
  try {
    const result = await fn();
    peak = Math.max(peak, used());
    return { result, growth: peak - before };
  } finally {
    clearInterval(t);
  }
}

describe('bounded reads', () => {
  it('an error page of 8 MB (the key echoed at its top): response_too_large, kind by status, a bounded excerpt without the key', async () => {
    plan = {
      status: 502,
      contentType: 'text/html',
      head: `<html><body><h1>Bad gateway</h1><p>Authorization: Bearer ${KEY}</p>`,
      piece: '<p>upstream said no</p>',
      total: 8 * MiB,
    };
    const c = client();
    const { result: e, growth } = await peakGrowth(() =>
      c.patchMetadata({ connectionId: 'a', providerConfigKey: 'b' }, { plan: 'pro' }, soon()).catch((x: unknown) => x),
    );
    await closed;
    await c.close();
    expect(e).toBeInstanceOf(Failure);
    const err = e as Failure;
    expect(err).toMatchObject({ code: 'response_too_large', status: 502, retryable: true });
    expect(err.message).toMatch(/more than 64 KiB/);
    expect(err.message.length).toBeLessThan(MAX_EXCERPT + 120);
    expect(JSON.stringify(err.toRecord())).not.toContain(KEY);
    // The client stopped at the cap: the server could not hand over the rest.
    expect(written).toBeLessThan(MAX_ERROR_BODY_BYTES + 4 * MiB);
    expect(growth).toBeLessThan(32 * MiB);
  });

  it('a JSON error body past 64 KiB is not parsed for its code: response_too_large', async () => {
    plan = {
      status: 400,
      contentType: 'application/json',
      head: '{"error":{"code":"invalid_body","errors":[',
      piece: '{"k":"v"},',
      total: 3 * MiB,
    };
    const c = client();
    const e = (await c
      .patchMetadata({ connectionId: 'a', providerConfigKey: 'b' }, { plan: 'pro' }, soon())
      .catch((x: unknown) => x)) as Failure;
    await closed;
    await c.close();
    expect(e).toMatchObject({ code: 'response_too_large', status: 400, retryable: false });
    expect(written).toBeLessThan(MAX_ERROR_BODY_BYTES + 4 * MiB);
  });

  it(`a list page over ${MAX_LIST_PAGE_BYTES / MiB} MiB: response_too_large (permanent: the page answers the same again), read no further than the cap`, async () => {
    const conn = JSON.stringify({
      id: 1,
      connection_id: 'c',
      provider_config_key: 'hubspot',
      provider: 'hubspot',
      errors: [],
      end_user: null,
      tags: { organization_id: 'acme' },
      metadata: { blob: 'x'.repeat(2000) },
      created: '2026-12-07T03:10:00.123+00:00',
    });
    plan = {
      status: 200,
      contentType: 'application/json',
      head: '{"connections":[',
      piece: `${conn},`,
      total: MAX_LIST_PAGE_BYTES + 24 * MiB,
    };
    const c = client();
    const { result: e, growth } = await peakGrowth(() =>
      c.listConnections({ tags: { organization_id: 'acme' } }, { limit: 1000, page: 0 }, soon()).catch((x: unknown) => x),
    );
    await closed;
    await c.close();
    expect(e).toBeInstanceOf(Failure);
    expect(e).toMatchObject({ code: 'response_too_large', status: 200, retryable: false });
    expect((e as Failure).message.length).toBeLessThan(MAX_EXCERPT + 200);
    // Nothing of the page: it holds other customers' tags and metadata.
    expect((e as Failure).message).not.toMatch(/acme|blob|connection_id/);
    expect(written).toBeLessThan(MAX_LIST_PAGE_BYTES + 8 * MiB);
    // About the cap held once as chunks and once as text; the 56 MiB answer is never held whole.
    expect(growth).toBeLessThan(MAX_LIST_PAGE_BYTES * 3);
  });

  it('a list page under the cap is read and parsed as before', async () => {
    plan = { status: 200, contentType: 'application/json', head: '{"connections":[]}', piece: ' ', total: 0 };
    const c = client();
    await expect(c.listConnections({ tags: { organization_id: 'acme' } }, { limit: 10, page: 0 }, soon())).resolves.toEqual([]);
    await c.close();
  });
});
