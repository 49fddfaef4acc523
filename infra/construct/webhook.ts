/**
 * The webhook function behind a Lambda function URL: Nango's auth webhooks (connection created or
 * re-authorised) become seed syncs.
 *
 * A function URL rather than an HTTP API: one resource, no API Gateway cost and no 29 s integration
 * limit. Auth type NONE because Nango cannot sign requests with SigV4; the handler checks a secret
 * path token first (Nango takes any URL), then Nango's HMAC. The URL accepts at most 10 requests a
 * second per unit of reserved concurrency: a flood above that crowds out Nango's deliveries, and the
 * sweep seeds what they missed. `webhook.cloudFront` puts CloudFront and a WAF rate-based rule per
 * source IP in front, so one host cannot reach the cap.
 */
import { Fn, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import { entryOf, nodeFunction } from './functions.ts';
import type { Resolved } from './validate-props.ts';

export interface Webhook {
  readonly fn: lambda.Function;
  readonly url: lambda.FunctionUrl;
  /** What to register in Nango: the URL (CloudFront's when it is in front) with the path token. */
  readonly endpoint: string;
  readonly distribution?: cloudfront.Distribution;
  /** The web ACL created for the distribution (none when an existing one was given). */
  readonly webAcl?: wafv2.CfnWebACL;
}

/**
 * The prop's token, or the UUID CloudFormation drew for the stack's id: unguessable from outside the
 * account, stable across updates, never in the source. Readable by whoever may describe the stack.
 */
export function webhookPathToken(scope: Construct, cfg: Resolved): string {
  return cfg.webhook.pathToken ?? Fn.select(2, Fn.split('/', Stack.of(scope).stackId));
}

export function createWebhook(scope: Construct, cfg: Resolved, environment: Record<string, string>): Webhook {
  const fn = nodeFunction(scope, cfg, {
    name: 'Webhook',
    entry: entryOf(cfg, 'webhook'),
    description: "Verifies Nango's auth webhooks and enqueues a seed sync for each new connection",
    timeout: cfg.webhook.timeout,
    memorySize: cfg.webhook.memorySize,
    environment,
    reservedConcurrentExecutions: cfg.webhook.reservedConcurrency,
    noAsyncDlqReason:
      'Invoked only synchronously through its function URL; Nango retries a failed webhook twice and the sweep seeds any connection it missed.',
  });
  const url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
  const token = environment.WEBHOOK_PATH_TOKEN ?? webhookPathToken(scope, cfg);
  const cf = cfg.webhookCloudFront;
  if (!cf) return { fn, url, endpoint: Fn.join('', [url.url, token]) };

  let webAclArn = cf.webAclArn;
  let webAcl: wafv2.CfnWebACL | undefined;
  if (!webAclArn) {
    const region = Stack.of(scope).region;
    if (Token.isUnresolved(region) || region !== 'us-east-1') {
      throw new Error(
        'webhook.cloudFront: a CloudFront web ACL can only be created in us-east-1; deploy this stack there, or create the web ACL in us-east-1 and pass its ARN as webhook.cloudFront.webAclArn',
      );
    }
    webAcl = new wafv2.CfnWebACL(scope, 'WebhookWebAcl', {
      scope: 'CLOUDFRONT',
      description: 'nango-metadata-sync webhook: blocks a source IP above the rate limit',
      defaultAction: { allow: {} },
      visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: 'NangoMetadataSyncWebhook', sampledRequestsEnabled: true },
      rules: [
        {
          name: 'RatePerSourceIp',
          priority: 0,
          action: { block: {} },
          statement: { rateBasedStatement: { aggregateKeyType: 'IP', limit: cf.rateLimitPer5Minutes, evaluationWindowSec: 300 } },
          visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: 'NangoMetadataSyncWebhookRate', sampledRequestsEnabled: true },
        },
      ],
    });
    webAclArn = webAcl.attrArn;
  }
  const distribution = new cloudfront.Distribution(scope, 'WebhookDistribution', {
    comment: 'nango-metadata-sync webhook (WAF in front of the function URL)',
    defaultBehavior: {
      origin: new origins.FunctionUrlOrigin(url),
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      // Every delivery reaches the function: nothing cached, Nango's headers (the signature) forwarded.
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
    },
    priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
    webAclId: webAclArn,
  });
  Validations.of(distribution).acknowledge(
    {
      id: 'AwsSolutions-CFR1',
      reason:
        'Nango delivers from its own hosts, wherever they run: a country list would refuse genuine deliveries. The WAF rate rule bounds what any one source sends.',
    },
    {
      id: 'AwsSolutions-CFR3',
      reason:
        'Requests a WAF rule blocks are sampled by WAF; what reaches the function is counted by its metrics and rejections are logged (sampled) with their source IP. Standard logging needs a bucket the deployer may add.',
    },
    {
      id: 'AwsSolutions-CFR4',
      reason:
        'The default *.cloudfront.net certificate: its minimum viewer TLS version cannot be set without a custom domain and certificate. The behaviour is HTTPS only.',
    },
  );
  return { fn, url, endpoint: Fn.join('', [`https://${distribution.distributionDomainName}/`, token]), distribution, webAcl };
}
