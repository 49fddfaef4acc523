/**
 * Webhook: Nango's webhooks, on a Lambda function URL. Verifies the signature, and seeds a newly
 * created (or re-authorised) connection with its subjects' desired state through the sync queue.
 *
 * Always answers (never throws): 200 for what was handled or deliberately ignored, 401 with no
 * detail for a bad signature, 413 for an oversized body, 503 when the seed could not be enqueued
 * (Nango retries the delivery). Answers in well under Nango's 20 s timeout: one index update per
 * subject and one SendMessage.
 */
import type { Context, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { logger } from '#powertools/logger';
import { metrics } from '#powertools/metrics';
import { loadConfig, webhookConfigSchema } from '#commons/config';
import { handleDelivery, type WebhookDeps } from '#commons/webhook/process';
import { SIGNATURE_HEADER, signingKeyFromConfig } from '#commons/webhook/signature';
import { queuesFromConfig } from '#commons/wiring';

let deps: WebhookDeps | undefined;

function init(): WebhookDeps {
  const c = loadConfig(webhookConfigSchema);
  return {
    queues: queuesFromConfig(),
    syncQueueUrl: c.SYNC_QUEUE_URL,
    signingKey: signingKeyFromConfig(c),
    maxBodyBytes: c.WEBHOOK_MAX_BODY_BYTES,
  };
}

export const handler = async (event: LambdaFunctionURLEvent, context: Context): Promise<LambdaFunctionURLResult> => {
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
