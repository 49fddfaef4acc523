/**
 * What the webhook does with a delivery, as an HTTP answer: the path token, then the signature, then
 * for an auth webhook of a created or re-authorised connection, enqueue a seed `lookup`: apply reads
 * the connection as Nango lists it now, updates its membership and indexes, and sends its subjects'
 * state. The body's tags are never trusted (a captured body stays validly signed forever: replayed
 * after a re-tag, it must not put the connection back with its former customer), so the webhook
 * touches no table and holds no Nango key. Everything else that is signed gets 200 (Nango adds
 * webhook types without notice). A retried delivery carries the same body: its seed has the same
 * deduplication id, so SQS keeps one.
 *
 * Cost of a rejection, cheapest first: a wrong path is one hash; a signature that is not 64 hex
 * digits, the same; a well-formed wrong signature, an HMAC against the cached key and at most one
 * fresh read of the secret per interval. Each is counted, with its reason, in the invocation's one
 * EMF line. Only a signed delivery reaches the queue.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { connectionIdSchema, providerConfigKeySchema } from '#events/ids';
import { logger } from '#powertools/logger';
import { MetricName, MetricUnit, metrics } from '#powertools/metrics';
import { classify } from '../failure.ts';
import type { QueuePort } from '../queues.ts';
import { connectionKey, syncMessage } from '../sync/message.ts';
import { pathTokenMatches, RejectionLog } from './front.ts';
import { isWellFormedSignature, type SigningKeySource, verifySignature } from './signature.ts';

export interface WebhookDeps {
  queues: Pick<QueuePort, 'send'>;
  syncQueueUrl: string;
  signingKey: SigningKeySource;
  maxBodyBytes: number;
  /** The URL's secret last segment (WEBHOOK_PATH_TOKEN). */
  pathToken: string;
  /** Sampled log of rejections. @default one per reason every 10 s */
  rejections?: RejectionLog;
}

export interface Delivery {
  method: string;
  /** The request's path, without the query string (a function URL's `rawPath`). */
  path: string;
  body: Buffer;
  signature: string | undefined;
  sourceIp?: string | undefined;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

const defaultRejections = new RejectionLog();

const authWebhookSchema = z.object({
  type: z.literal('auth'),
  operation: z.string(),
  success: z.boolean(),
  connectionId: connectionIdSchema,
  providerConfigKey: providerConfigKeySchema,
  tags: z.record(z.string().max(64), z.string().max(255)).nullish(),
});

const SEEDED_OPERATIONS = new Set(['creation', 'override']);

/**
 * A request refused before its delivery was read: counted (the invocation's EMF line, one per
 * request, which a probe of the URL shows as a rise) with its reason beside the count.
 */
function rejected(reason: 'path' | 'method' | 'too_large' | 'signature_malformed' | 'signature_mismatch'): void {
  metrics.addMetric(MetricName.WebhookRequestsRejected, MetricUnit.Count, 1);
  metrics.addMetadata('rejection', reason);
}

export async function handleDelivery(d: Delivery, deps: WebhookDeps): Promise<Answer> {
  const rejections = deps.rejections ?? defaultRejections;
  if (!pathTokenMatches(d.path, deps.pathToken)) {
    rejected('path');
    rejections.note('path', d.sourceIp);
    return { status: 404, body: {} };
  }
  metrics.addMetric(MetricName.WebhooksReceived, MetricUnit.Count, 1);
  if (d.method !== 'POST') {
    rejected('method');
    return { status: 405, body: { error: 'method_not_allowed' } };
  }
  if (d.body.length > deps.maxBodyBytes) {
    rejected('too_large');
    return { status: 413, body: { error: 'payload_too_large' } };
  }
  const refuse = (reason: 'signature_malformed' | 'signature_mismatch'): Answer => {
    rejected(reason);
    metrics.addMetric(MetricName.WebhookSignatureRejected, MetricUnit.Count, 1);
    rejections.note(reason, d.sourceIp, { bytes: d.body.length });
    return { status: 401, body: {} };
  };
  if (!isWellFormedSignature(d.signature)) return refuse('signature_malformed');
  let key: string;
  try {
    key = await deps.signingKey.get();
  } catch (e) {
    // Without the key no delivery can be checked: 503 so that Nango retries a genuine one. Not a seed
    // failure (nothing was verified yet): its own metric and alarm.
    const err = classify(e);
    logger.error('webhook signing key unavailable', { code: err.code, error: err.message });
    metrics.addMetric(MetricName.WebhookSigningKeyUnavailable, MetricUnit.Count, 1);
    return { status: 503, body: { error: 'unavailable' } };
  }
  let verified = verifySignature(d.body, d.signature, key);
  if (!verified) {
    // The key may have been rotated since it was cached: one fresh read (rate-limited) before refusing.
    // A failed read refuses the request like a wrong signature: the sender proved nothing.
    try {
      const fresh = await deps.signingKey.refresh();
      verified = fresh !== undefined && verifySignature(d.body, d.signature, fresh);
    } catch (e) {
      const err = classify(e);
      logger.warn('webhook signing key could not be read again; the request is refused', { code: err.code, error: err.message });
    }
  }
  if (!verified) return refuse('signature_mismatch');
  let raw: unknown;
  try {
    raw = JSON.parse(d.body.toString('utf8'));
  } catch {
    return { status: 400, body: { error: 'invalid_json' } };
  }
  const { type, operation, success } = (raw ?? {}) as { type?: unknown; operation?: unknown; success?: unknown };
  if (type !== 'auth') return { status: 200, body: { ignored: `type ${typeof type === 'string' ? type.slice(0, 64) : 'unknown'}` } };
  // What is not seeded is ignored whatever its other fields hold: only a seed's shape is ours to check.
  if (success !== true || typeof operation !== 'string' || !SEEDED_OPERATIONS.has(operation))
    return { status: 200, body: { ignored: `auth ${String(operation).slice(0, 32)} success=${String(success).slice(0, 8)}` } };
  const parsed = authWebhookSchema.safeParse(raw);
  if (!parsed.success) {
    logger.warn('auth webhook not understood', { issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) });
    return { status: 400, body: { error: 'invalid_auth_webhook' } };
  }
  const w = parsed.data;

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
