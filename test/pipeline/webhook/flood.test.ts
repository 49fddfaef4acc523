/**
 * A flood at the function URL's cap, through the real webhook handler (as Lambda calls it) with the
 * real Powertools SecretsProvider against the Secrets Manager stand-in and the sync queue on fauxqs:
 * requests with the wrong path, no signature or a malformed one are refused without a secret read,
 * each counted by reason in one EMF line (and no Powertools warning of an empty flush); well-formed
 * wrong signatures read the secret at most once per refresh interval; connections created during
 * the flood are all seeded.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Context, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeContext } from '../../../local/lambda-shapes.ts';
import { processEnv } from '../../../local/options.ts';
import { startSecretsManagerStandin, type SecretsManagerStandin } from '../../../local/standins/secrets-manager.ts';
import { authWebhookBody } from '../../../local/standins/nango/webhooks.ts';
import { startLocalSqs, type LocalSqs } from '../../../local/standins/sqs.ts';
import { captureLogs, type Logs } from '../../support/logs.ts';
import { queueCounts } from '../../../local/event-source.ts';

/** The construct's default reserved concurrency, and Lambda's function URL limit of 10 requests/s per unit of it. */
const RESERVED_CONCURRENCY = 5;
const CAP_PER_SECOND = 10 * RESERVED_CONCURRENCY;
const FLOOD_SECONDS = 10;
const CREATED_DURING_FLOOD = 20;

const TOKEN = randomUUID();
const KEY = `whsk_${randomUUID()}`;
const FORGED_KEY = `whsk_${randomUUID()}`;

let sm: SecretsManagerStandin;
let sqs: LocalSqs;
let syncUrl: string;
let logs: Logs;
let handler: (event: LambdaFunctionURLEvent, context: Context) => Promise<LambdaFunctionURLResult>;
const env = processEnv();

const sign = (body: string, key: string) => createHmac('sha256', key).update(body).digest('hex');
const event = (path: string, body: string, signature?: string): LambdaFunctionURLEvent =>
  ({
    version: '2.0',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...(signature === undefined ? {} : { 'X-Nango-Hmac-Sha256': signature }) },
    isBase64Encoded: false,
    body,
    requestContext: { http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'flood' } },
  }) as unknown as LambdaFunctionURLEvent;
const context = makeContext('nango-metadata-sync-webhook', 'flood', 10_000);
/** The function URL result is always an object here (the handler never answers a bare string). */
const status = async (e: LambdaFunctionURLEvent) => ((await handler(e, context)) as { statusCode: number }).statusCode;
const created = (i: number) => ({
  connectionId: `flood-${i}-${randomUUID()}`,
  providerConfigKey: 'salesforce',
  provider: 'salesforce',
  tags: { organization_id: `org-${i}` },
});

beforeAll(async () => {
  sm = await startSecretsManagerStandin({ secrets: { 'webhook-key': KEY } });
  sqs = await startLocalSqs();
  syncUrl = (await sqs.createPipelineQueues({ prefix: 'flood-' })).syncUrl;
  env.setAll({
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
    WEBHOOK_SECRET_ID: 'webhook-key',
    WEBHOOK_PATH_TOKEN: TOKEN,
    SYNC_QUEUE_URL: syncUrl,
  });
  logs = captureLogs([KEY]);
  handler = (await import('../../../functions/webhook.ts')).handler;
});
afterAll(async () => {
  logs?.stop();
  env.restore();
  await sqs?.close();
  await sm?.close();
});

describe('a flood at the cap', () => {
  it(`${CAP_PER_SECOND} requests/s for ${FLOOD_SECONDS} s: no secret read for a wrong path or a malformed signature; every connection created meanwhile is seeded`, async () => {
    const flood = CAP_PER_SECOND * FLOOD_SECONDS;
    const kinds = [
      (b: string) => event('/', b, sign(b, KEY)), // the bare URL, even correctly signed
      (b: string) => event(`/${TOKEN.slice(0, -1)}x`, b, sign(b, KEY)), // a near miss of the token
      (b: string) => event(`/${TOKEN}`, b), // no signature
      (b: string) => event(`/${TOKEN}`, b, 'not-a-hex-signature'),
      (b: string) => event(`/${TOKEN}`, b, sign(b, FORGED_KEY)), // well-formed, wrong key
    ];
    // Cold: before any genuine delivery, the cheap rejects read nothing at all.
    const cheap = kinds.slice(0, 4);
    const cheapMs: number[] = [];
    for (let i = 0; i < CAP_PER_SECOND * 4; i++) {
      const body = JSON.stringify(authWebhookBody(created(i), 'creation'));
      const t0 = performance.now();
      expect([404, 401]).toContain(await status(cheap[i % cheap.length]!(body)));
      cheapMs.push(performance.now() - t0);
    }
    expect(sm.calls()).toBe(0);
    const linesBefore = logs.records().length;
    const statuses = new Map<number, number>();
    const genuine: number[] = [];
    let rejectMs = 0;
    let rejects = 0;
    const start = performance.now();
    for (let i = 0; i < flood; i++) {
      const body = JSON.stringify(authWebhookBody(created(i), 'creation'));
      const t0 = performance.now();
      const code = await status(kinds[i % kinds.length]!(body));
      rejectMs += performance.now() - t0;
      rejects++;
      statuses.set(code, (statuses.get(code) ?? 0) + 1);
      // Nango's genuine deliveries, spread through the flood.
      if (i % (flood / CREATED_DURING_FLOOD) === 0) {
        const g = JSON.stringify(authWebhookBody(created(100_000 + i), 'creation'));
        genuine.push(await status(event(`/${TOKEN}`, g, sign(g, KEY))));
      }
    }
    const elapsedMs = performance.now() - start;

    // 2 of 5 kinds have the wrong path (404), 3 have a bad signature (401).
    expect(Object.fromEntries(statuses)).toEqual({ 404: (flood * 2) / 5, 401: (flood * 3) / 5 });
    expect(genuine).toEqual(Array(CREATED_DURING_FLOOD).fill(200));
    const q = await queueCounts(sqs.client(), syncUrl);
    expect(q.visible + q.delayed + q.inFlight).toBe(CREATED_DURING_FLOOD);
    // One read for the first genuine delivery, at most one forced re-read for the wrong-key signatures.
    expect(sm.calls()).toBeGreaterThanOrEqual(1);
    expect(sm.calls()).toBeLessThanOrEqual(2);
    // Sampled: a few lines per reason, not one per request; one EMF line per request.
    const lines = logs.records().slice(linesBefore);
    const rejectedLines = lines.filter((l) => l.message === 'webhook request rejected');
    expect(rejectedLines.length).toBeLessThanOrEqual(3 * Math.ceil(elapsedMs / 10_000 + 1));
    for (const l of rejectedLines) expect(l.sourceIp).toBe('203.0.113.7');
    const emf = lines.filter((l) => '_aws' in l);
    expect(emf.length).toBe(flood + CREATED_DURING_FLOOD);
    // Every rejection counted once, by reason: no signature and a non-hex one are both malformed.
    const reasons = new Map<unknown, number>();
    for (const l of emf) if (l.WebhookRequestsRejected === 1) reasons.set(l.rejection, (reasons.get(l.rejection) ?? 0) + 1);
    expect(Object.fromEntries(reasons)).toEqual({
      path: (flood * 2) / 5,
      signature_malformed: (flood * 2) / 5,
      signature_mismatch: flood / 5,
    });
    // logMetrics flushes every invocation: none of them was empty.
    expect(logs.plain().filter((l) => l.includes('No application metrics'))).toEqual([]);
    expect(logs.capture.leaks()).toBe(0);
    console.info(
      `flood: ${flood} requests (${CAP_PER_SECOND}/s for ${FLOOD_SECONDS} s at the cap) handled in ${elapsedMs.toFixed(0)} ms, ` +
        `${(rejectMs / rejects).toFixed(3)} ms per request on average; ${CREATED_DURING_FLOOD}/${genuine.filter((s) => s === 200).length} genuine deliveries seeded; ` +
        `${sm.calls()} secret reads; ${rejectedLines.length} rejection log lines; ` +
        `cold, before any key was read: ${cheapMs.length} cheap rejects at ${(cheapMs.reduce((a, b) => a + b, 0) / cheapMs.length).toFixed(3)} ms each, 0 secret reads`,
    );
  });
});
