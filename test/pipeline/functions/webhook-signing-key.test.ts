/**
 * The webhook's signing key after a rotation in Nango: the first delivery signed with the new key
 * makes one fresh read of the secret and is accepted; a flood of bad signatures reads it at most once
 * per interval. Real Powertools SecretsProvider against the Secrets Manager stand-in.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metrics } from '#powertools/metrics';
import { handleDelivery, type WebhookDeps } from '#commons/webhook/process';
import { sign, signingKeyFromConfig } from '#commons/webhook/signature';
import { captureOutput } from '../../../local/chaos/capture.ts';
import { startSecretsManagerStandin, type SecretsManagerStandin } from '../../../local/standins/secrets-manager.ts';

const OLD = 'whsk_old_0123456789abcdef';
const NEW = 'whsk_new_fedcba9876543210';
const NAMES = ['WebhookSeedFailures', 'WebhookSignatureRejected', 'WebhookSigningKeyUnavailable'];
const body = Buffer.from(JSON.stringify({ type: 'sync', connectionId: 'x' }));

describe('webhook signing key rotation', () => {
  let sm: SecretsManagerStandin;
  let deps: WebhookDeps;
  let clock = 0;
  const sent: unknown[] = [];

  beforeAll(async () => {
    sm = await startSecretsManagerStandin({ secrets: { 'webhook-key': OLD } });
    const provider = new SecretsProvider({ awsSdkV3Client: new SecretsManagerClient({ endpoint: sm.url, region: 'us-east-1' }) });
    deps = {
      pathToken: 'test-path-token-0123',
      queues: { send: async (_u, m) => void sent.push(m) },
      syncQueueUrl: 'http://127.0.0.1/queue/sync.fifo',
      signingKey: signingKeyFromConfig({ WEBHOOK_SECRET_ID: 'webhook-key', SECRET_CACHE_TTL_SECONDS: 300 }, provider, () => clock),
      maxBodyBytes: 65_536,
    };
  });
  afterAll(() => sm.close());

  const deliver = (key: string) =>
    handleDelivery({ method: 'POST', path: '/test-path-token-0123', body, signature: sign(body, key) }, deps);

  it('accepts the old key from the cache, then the new key after one fresh read', async () => {
    expect((await deliver(OLD)).status).toBe(200);
    const reads = sm.calls();
    sm.setSecret('webhook-key', NEW);
    clock = 60_000;
    expect((await deliver(NEW)).status).toBe(200);
    expect(sm.calls()).toBe(reads + 1);
  });

  it('reads the secret at most once per interval however many bad signatures arrive', async () => {
    clock = 200_000;
    const reads = sm.calls();
    const answers = await Promise.all(Array.from({ length: 20 }, () => deliver('not-the-key-at-all')));
    expect(answers.every((a) => a.status === 401 && JSON.stringify(a.body) === '{}')).toBe(true);
    expect(sm.calls() - reads).toBeLessThanOrEqual(1);
    expect(sent).toEqual([]);
  });

  it('refuses a signature that is not 64 hex digits without reading the secret', async () => {
    clock = 400_000;
    const reads = sm.calls();
    for (const signature of [undefined, '', 'abc', sign(body, NEW).slice(1), `${sign(body, NEW)}00`, 'z'.repeat(64)]) {
      const a = await handleDelivery({ method: 'POST', path: '/test-path-token-0123', body, signature }, deps);
      expect(a).toEqual({ status: 401, body: {} });
    }
    expect(sm.calls()).toBe(reads);
  });

  it('a failed fresh read answers 401 (the sender proved nothing), not 503, and counts no seed failure', async () => {
    clock = 500_000;
    const out = captureOutput({ watch: NAMES });
    try {
      sm.throttleNext(10);
      const a = await deliver('a-key-nobody-has-ever-used');
      metrics.publishStoredMetrics();
      expect(a).toEqual({ status: 401, body: {} });
      expect(out.hits().get('WebhookSeedFailures') ?? 0).toBe(0);
      expect(out.hits().get('WebhookSignatureRejected')).toBeGreaterThan(0);
    } finally {
      out.stop();
      sm.throttleNext(0);
    }
  });

  it('a key that cannot be read at all answers 503 (Nango retries) under its own metric, not as a seed failure', async () => {
    const failing = {
      ...deps,
      signingKey: { get: async () => Promise.reject(new Error('AccessDeniedException')), refresh: async () => undefined },
    };
    const out = captureOutput({ watch: NAMES });
    try {
      const a = await handleDelivery({ method: 'POST', path: '/test-path-token-0123', body, signature: sign(body, NEW) }, failing);
      metrics.publishStoredMetrics();
      expect(a).toEqual({ status: 503, body: { error: 'unavailable' } });
      expect(out.hits().get('WebhookSigningKeyUnavailable')).toBeGreaterThan(0);
      expect(out.hits().get('WebhookSeedFailures') ?? 0).toBe(0);
    } finally {
      out.stop();
    }
  });
});
