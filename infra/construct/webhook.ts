/**
 * The webhook function behind a Lambda function URL: Nango's auth webhooks (connection created or
 * re-authorised) seed the new connection with its desired state.
 *
 * A function URL rather than an HTTP API: one resource, no API Gateway cost and no 29 s integration
 * limit, throttled by the function's reserved concurrency. Auth type NONE because Nango cannot sign
 * requests with SigV4; the handler verifies Nango's HMAC (X-Nango-Hmac-Sha256) itself. A flood of
 * forged requests can only throttle it: Nango retries a webhook, and reconcile repairs what was missed.
 */
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { entryOf, nodeFunction } from './functions.ts';
import type { Resolved } from './validate-props.ts';

export interface Webhook {
  readonly fn: NodejsFunction;
  readonly url: lambda.FunctionUrl;
}

export function createWebhook(scope: Construct, cfg: Resolved, environment: Record<string, string>): Webhook {
  const fn = nodeFunction(scope, cfg, {
    name: 'Webhook',
    entry: entryOf(cfg, 'webhook'),
    description: "Verifies Nango's auth webhooks and seeds new connections with their desired state",
    timeout: cfg.webhook.timeout,
    memorySize: cfg.webhook.memorySize,
    environment,
    reservedConcurrentExecutions: cfg.webhook.reservedConcurrency,
    noAsyncDlqReason:
      'Invoked only synchronously through its function URL; Nango retries a failed webhook twice and reconcile repairs any connection it missed.',
  });
  const url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
  return { fn, url };
}
