/**
 * Webhook: Nango's webhooks, on a Lambda function URL. Checks the URL's secret path token, then the
 * signature, and turns a newly created (or re-authorised) connection into a seed lookup on the sync
 * queue; apply reads the connection from Nango and sends its subjects' desired state.
 *
 * Always answers (never throws): 200 for what was handled or deliberately ignored, 404 for any other
 * path, 401 with no detail for a bad signature, 413 for an oversized body, 503 when the signing key
 * cannot be read or the seed could not be enqueued (Nango retries the delivery). A wrong path is
 * answered before the body is decoded: a flood of them costs one hash and one EMF line (the count of
 * rejected requests) each.
 * No table access and no Nango key: one SendMessage.
 */
import type { Context, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import type { Catalog } from '#events/define';
import { loadConfig, webhookConfigSchema } from '#commons/config';
import { handleDelivery, type WebhookDeps } from '#commons/webhook/process';
import { SIGNATURE_HEADER, signingKeyFromConfig } from '#commons/webhook/signature';
import { SQSClient } from '@aws-sdk/client-sqs';
import { AWS_REQUEST_HANDLER } from '#commons/aws-request';
import { SqsQueues } from '#commons/queues';
import { lambdaHandler } from './lambda-handler.ts';

function init(): WebhookDeps {
  const c = loadConfig(webhookConfigSchema);
  return {
    // Its own SQS client rather than the shared wiring: that module brings the Nango client (and undici),
    // which this function never uses.
    queues: new SqsQueues(new SQSClient({ requestHandler: AWS_REQUEST_HANDLER })),
    syncQueueUrl: c.SYNC_QUEUE_URL,
    signingKey: signingKeyFromConfig(c),
    maxBodyBytes: c.WEBHOOK_MAX_BODY_BYTES,
    pathToken: c.WEBHOOK_PATH_TOKEN,
  };
}

const lower = (headers: LambdaFunctionURLEvent['headers']): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));

export type WebhookHandler = (event: LambdaFunctionURLEvent, context: Context) => Promise<LambdaFunctionURLResult>;

/** The webhook function. It takes the catalog like the others, so every entry is built the same way (it reads none of it: the seed is a hint apply looks up). */
export const createWebhookHandler = (_options: { catalog?: Catalog } = {}): WebhookHandler =>
  lambdaHandler(init, async (event: LambdaFunctionURLEvent, deps) => {
    let body: Buffer | undefined;
    const answer = await handleDelivery(
      {
        method: event.requestContext?.http?.method ?? 'POST',
        path: event.rawPath ?? '/',
        // Decoded lazily: a request with the wrong path never pays for its body.
        get body() {
          body ??= Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
          return body;
        },
        signature: lower(event.headers)[SIGNATURE_HEADER],
        sourceIp: event.requestContext?.http?.sourceIp,
      },
      deps,
    );
    return { statusCode: answer.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(answer.body) };
  });
