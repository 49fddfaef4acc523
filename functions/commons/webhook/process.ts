/**
 * What the webhook does with a delivery, as an HTTP answer: verify, then for an auth webhook of a
 * created or re-authorised connection, enqueue a seed `lookup`: apply reads the connection as Nango
 * lists it now, updates its membership and indexes, and sends its subjects' state. The body's tags
 * are never trusted (a captured body stays validly signed forever: replayed after a re-tag, it must
 * not put the connection back with its former customer). Everything else that is signed gets 200
 * (Nango adds webhook types without notice). A retried delivery carries the same body: its seed has
 * the same deduplication id, so SQS keeps one.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { connectionIdSchema, providerConfigKeySchema } from '#events/ids';
import { logger } from '#powertools/logger';
import { MetricName, MetricUnit, metrics } from '#powertools/metrics';
import { classify } from '../failure.ts';
import type { QueuePort } from '../queues.ts';
import { connectionKey, syncMessage } from '../sync/message.ts';
import { type SigningKeySource, verifySignature } from './signature.ts';

export interface WebhookDeps {
  queues: Pick<QueuePort, 'send'>;
  syncQueueUrl: string;
  signingKey: SigningKeySource;
  maxBodyBytes: number;
}

export interface Delivery {
  method: string;
  body: Buffer;
  signature: string | undefined;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

const authWebhookSchema = z.object({
  type: z.literal('auth'),
  operation: z.string(),
  success: z.boolean(),
  connectionId: connectionIdSchema,
  providerConfigKey: providerConfigKeySchema,
  tags: z.record(z.string().max(64), z.string().max(255)).nullish(),
});

const SEEDED_OPERATIONS = new Set(['creation', 'override']);

export async function handleDelivery(d: Delivery, deps: WebhookDeps): Promise<Answer> {
  metrics.addMetric(MetricName.WebhooksReceived, MetricUnit.Count, 1);
  if (d.method !== 'POST') return { status: 405, body: { error: 'method_not_allowed' } };
  if (d.body.length > deps.maxBodyBytes) return { status: 413, body: { error: 'payload_too_large' } };
  let verified: boolean;
  try {
    verified = verifySignature(d.body, d.signature, await deps.signingKey.get());
    // The key may have been rotated since it was cached: one fresh read (rate-limited) before refusing.
    if (!verified && d.signature) {
      const fresh = await deps.signingKey.refresh();
      verified = fresh !== undefined && verifySignature(d.body, d.signature, fresh);
    }
  } catch (e) {
    const err = classify(e);
    logger.error('webhook signing key unavailable', { code: err.code, error: err.message });
    metrics.addMetric(MetricName.WebhookSeedFailures, MetricUnit.Count, 1);
    return { status: 503, body: { error: 'unavailable' } };
  }
  if (!verified) {
    metrics.addMetric(MetricName.WebhookSignatureRejected, MetricUnit.Count, 1);
    logger.warn('webhook signature rejected', { bytes: d.body.length, signed: d.signature !== undefined });
    return { status: 401, body: {} };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(d.body.toString('utf8'));
  } catch {
    return { status: 400, body: { error: 'invalid_json' } };
  }
  const type = (raw as { type?: unknown })?.type;
  if (type !== 'auth') return { status: 200, body: { ignored: `type ${typeof type === 'string' ? type.slice(0, 64) : 'unknown'}` } };
  const parsed = authWebhookSchema.safeParse(raw);
  if (!parsed.success) {
    logger.warn('auth webhook not understood', { issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) });
    return { status: 400, body: { error: 'invalid_auth_webhook' } };
  }
  const w = parsed.data;
  if (!w.success || !SEEDED_OPERATIONS.has(w.operation))
    return { status: 200, body: { ignored: `auth ${w.operation.slice(0, 32)} success=${w.success}` } };

  const target = { connectionId: w.connectionId, providerConfigKey: w.providerConfigKey };
  try {
    await deps.queues.send(deps.syncQueueUrl, {
      body: JSON.stringify({ ...syncMessage(target, [], 'seed'), lookup: true }),
      groupId: connectionKey(target),
      deduplicationId: createHash('sha256').update(d.body).digest('hex'),
    });
  } catch (e) {
    const err = classify(e);
    metrics.addMetric(MetricName.WebhookSeedFailures, MetricUnit.Count, 1);
    logger.error('seed could not be enqueued; Nango will retry the delivery', { code: err.code, error: err.message });
    return { status: 503, body: { error: 'unavailable' } };
  }
  metrics.addMetric(MetricName.WebhookSeedsEnqueued, MetricUnit.Count, 1);
  logger.info('new connection: seed lookup enqueued', { operation: w.operation });
  return { status: 200, body: { seeded: true } };
}
