/**
 * The Nango secret key as production reads it: from Secrets Manager (the stand-in, through the AWS
 * SDK), with the real client against the Nango stand-in. A rotation (the key changed at Nango and
 * in the secret) costs each concurrent request one 401 and the process one read of the secret; a
 * Secrets Manager that cannot answer when the cached key's time is up does not fail requests the
 * cached key still serves. The secret's `host` is not a secret: errors that name it stay readable.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Failure } from '#commons/failure';
import { HttpNangoClient } from '#commons/nango/http-client';
import { keyProviderFromConfig } from '#commons/secrets';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';
import { startSecretsManagerStandin, type SecretsManagerStandin } from '../../../local/standins/secrets-manager.ts';

const OLD = randomUUID();
const NEW = randomUUID();
const SECRET = 'nango/rotation-test';
const targets = Array.from({ length: 12 }, (_, i) => ({ connectionId: `rot-${i}`, providerConfigKey: 'hubspot' }));

let nango: NangoStandin;
let sm: SecretsManagerStandin;
const saved = process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;

beforeAll(async () => {
  nango = await startNangoStandin({ secretKey: OLD, connections: targets.map((t) => ({ ...t, metadata: null })) });
  sm = await startSecretsManagerStandin({ secrets: { [SECRET]: JSON.stringify({ secretKey: OLD }) } });
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = sm.url;
});
afterAll(async () => {
  if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
  else process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = saved;
  await nango.close();
  await sm.close();
});

const clientWith = (ttlSeconds: number) =>
  new HttpNangoClient({
    host: nango.url,
    endpoint: 'current',
    keys: keyProviderFromConfig({ NANGO_SECRET_ID: SECRET, SECRET_CACHE_TTL_SECONDS: ttlSeconds }),
    timeoutMs: 5_000,
  });
const patchAll = (c: HttpNangoClient, seats: number) =>
  Promise.allSettled(targets.map((t) => c.patchMetadata(t, { seats }, { deadline: Date.now() + 10_000 })));

describe('the Nango key from Secrets Manager', () => {
  it('a rotation: every concurrent request succeeds, with one read of the secret', async () => {
    nango.setSecretKey(OLD);
    const client = clientWith(300);
    try {
      expect((await patchAll(client, 1)).every((r) => r.status === 'fulfilled')).toBe(true);
      const reads = sm.calls();
      nango.setSecretKey(NEW);
      sm.setSecret(SECRET, JSON.stringify({ secretKey: NEW }));
      const from = nango.requests.length;
      const results = await patchAll(client, 2);
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      expect(sm.calls() - reads).toBe(1);
      const statuses = nango.requests.slice(from).map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(targets.length);
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(targets.length);
    } finally {
      await client.close();
      sm.setSecret(SECRET, JSON.stringify({ secretKey: OLD }));
      nango.setSecretKey(OLD);
    }
  });

  it('Secrets Manager failing when the cache expires: the cached key, still valid, keeps serving', async () => {
    const client = clientWith(1);
    try {
      expect((await patchAll(client, 3)).every((r) => r.status === 'fulfilled')).toBe(true);
      await new Promise((r) => setTimeout(r, 1_100));
      sm.throttleNext(1_000);
      const reads = sm.calls();
      const results = await patchAll(client, 4);
      // It did try to read the secret again: its time was up.
      expect(sm.calls()).toBeGreaterThan(reads);
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      // And the next requests do not each go through Secrets Manager's retries again.
      const after = sm.calls();
      expect((await patchAll(client, 5)).every((r) => r.status === 'fulfilled')).toBe(true);
      expect(sm.calls()).toBe(after);
    } finally {
      sm.throttleNext(0);
      await client.close();
    }
  });

  it('but a 401 with the cached key and no readable secret is a retryable failure, never a success', async () => {
    const client = clientWith(1);
    try {
      expect((await patchAll(client, 5)).every((r) => r.status === 'fulfilled')).toBe(true);
      nango.setSecretKey(NEW);
      sm.throttleNext(1_000);
      const [first] = await patchAll(client, 6);
      expect(first?.status).toBe('rejected');
      const reason = (first as PromiseRejectedResult).reason as { code?: string; retryable?: boolean };
      expect(reason.code).toBe('secret_unavailable');
      expect(reason.retryable).toBe(true);
    } finally {
      sm.throttleNext(0);
      nango.setSecretKey(OLD);
      await client.close();
    }
  });

  it("the secret's host is not scrubbed: a wrong base path's 404 says which path, and the key is still hidden", async () => {
    const prefixed = 'nango/prefixed-host';
    // A self-hosted Nango behind a prefix, configured with the wrong one: Express answers its HTML 404.
    sm.setSecret(prefixed, JSON.stringify({ secretKey: OLD, host: `${nango.url}/selfhosted-nango-wrong-prefix` }));
    const client = new HttpNangoClient({
      host: 'http://127.0.0.1:9',
      endpoint: 'current',
      keys: keyProviderFromConfig({ NANGO_SECRET_ID: prefixed, SECRET_CACHE_TTL_SECONDS: 300 }),
      timeoutMs: 5_000,
    });
    try {
      const e = await client.patchMetadata(targets[0]!, { seats: 7 }, { deadline: Date.now() + 5_000 }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(Failure);
      const f = e as Failure;
      expect(f.status).toBe(404);
      expect(f.message).toContain('Cannot PATCH /selfhosted-nango-wrong-prefix/connections/metadata');
      expect(JSON.stringify(f.toRecord())).not.toContain(OLD);
    } finally {
      await client.close();
    }
  });
});
