/**
 * Webhook: Nango's webhooks, on a Lambda function URL. Verifies the signature, and seeds a newly
 * created (or re-authorised) connection: a seed hint on the sync queue that apply looks up in Nango.
 *
 * Always answers (never throws): 200 for what was handled or deliberately ignored, 401 with no
 * detail for a bad signature, 413 for an oversized body, 503 when the seed could not be enqueued
 * (Nango retries the delivery). Answers in well under Nango's 20 s timeout: one SendMessage, no
 * table access.
 */
import type { Context, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import type { Catalog } from '#events/define';
import { logger } from '#powertools/logger';
import { metrics } from '#powertools/metrics';
import { loadConfig, webhookConfigSchema } from '#commons/config';
import { handleDelivery, type WebhookDeps } from '#commons/webhook/process';
import { SIGNATURE_HEADER, signingKeyFromConfig } from '#commons/webhook/signature';
import { queuesFromConfig } from '#commons/wiring';

function init(): WebhookDeps {
  const c = loadConfig(webhookConfigSchema);
  return {
    queues: queuesFromConfig(),
    syncQueueUrl: c.SYNC_QUEUE_URL,
    signingKey: signingKeyFromConfig(c),
    maxBodyBytes: c.WEBHOOK_MAX_BODY_BYTES,
  };
}

export type WebhookHandler = (event: LambdaFunctionURLEvent, context: Context) => Promise<LambdaFunctionURLResult>;

/** The webhook function. It takes the catalog like the others, so every entry is built the same way (it reads none of it: the seed is a hint apply looks up). */
export const createWebhookHandler = (_options: { catalog?: Catalog } = {}): WebhookHandler => {
  let deps: WebhookDeps | undefined;
  return async (event, context) => {
    logger.addContext(context);
    deps ??= init();
    try {
      const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
      const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      const answer = await handleDelivery(
        { method: event.requestContext?.http?.method ?? 'POST', body, signature: headers[SIGNATURE_HEADER] },
        deps,
      );
      return { statusCode: answer.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(answer.body) };
    } finally {
      metrics.publishStoredMetrics();
    }
  };
};
