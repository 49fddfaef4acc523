/**
 * The webhook's front door in the template: the path token in the function's environment and in the
 * URL to register, and the optional CloudFront + WAF variant (a rate-based rule per source IP).
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { NangoMetadataSync, type NangoMetadataSyncProps } from '../../infra/construct/index.ts';
import { newApp, SAMPLE_CATALOG } from './helpers.ts';

function synth(props: Partial<NangoMetadataSyncProps>, region?: string) {
  const stack = new Stack(newApp(), 'T', region ? { env: { account: '123456789012', region } } : {});
  const sync = new NangoMetadataSync(stack, 'Sync', { catalog: SAMPLE_CATALOG, ...props });
  return { sync, stack, t: Template.fromStack(stack) };
}
const webhookEnv = (t: Template) =>
  (Object.values(t.findResources('AWS::Lambda::Function')).find((f: any) => f.Properties.Environment.Variables.WEBHOOK_SECRET_ID) as any)
    .Properties.Environment.Variables;

describe('path token', () => {
  it('a given token reaches the function and ends the URL to register', () => {
    const { sync, stack, t } = synth({ webhook: { pathToken: 'rotated-2026-12_abcdef' } });
    expect(webhookEnv(t).WEBHOOK_PATH_TOKEN).toBe('rotated-2026-12_abcdef');
    expect(stack.resolve(sync.webhookEndpoint)).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^SyncWebhookFunctionUrl/), 'FunctionUrl'] }, 'rotated-2026-12_abcdef']],
    });
  });

  it('a token that is short or has other characters is refused at synth', () => {
    expect(() => synth({ webhook: { pathToken: 'short' } })).toThrow(/webhook\.pathToken \(WEBHOOK_PATH_TOKEN\) is invalid/);
    expect(() => synth({ webhook: { pathToken: 'has/a/slash-0123456789' } })).toThrow(/webhook\.pathToken/);
  });
});

describe('CloudFront + WAF', () => {
  it('off by default: no distribution, no web ACL', () => {
    const { t } = synth({});
    t.resourceCountIs('AWS::CloudFront::Distribution', 0);
    t.resourceCountIs('AWS::WAFv2::WebACL', 0);
  });

  it('in us-east-1: a CLOUDFRONT web ACL blocking a source IP above 300 requests in 5 minutes, on an uncached distribution', () => {
    const { sync, stack, t } = synth({ webhook: { cloudFront: true } }, 'us-east-1');
    const [acl] = Object.entries(t.findResources('AWS::WAFv2::WebACL')) as [string, any][];
    expect(acl![1].Properties).toMatchObject({
      Scope: 'CLOUDFRONT',
      DefaultAction: { Allow: {} },
      Rules: [
        {
          Name: 'RatePerSourceIp',
          Action: { Block: {} },
          Statement: { RateBasedStatement: { AggregateKeyType: 'IP', Limit: 300, EvaluationWindowSec: 300 } },
        },
      ],
    });
    const dist = (Object.values(t.findResources('AWS::CloudFront::Distribution'))[0] as any).Properties.DistributionConfig;
    expect(dist.WebACLId).toEqual({ 'Fn::GetAtt': [acl![0], 'Arn'] });
    expect(dist.DefaultCacheBehavior).toMatchObject({
      ViewerProtocolPolicy: 'https-only',
      AllowedMethods: expect.arrayContaining(['POST']),
      CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad', // CachingDisabled
    });
    expect(JSON.stringify(stack.resolve(sync.webhookEndpoint))).toContain('DomainName');
  });

  it('elsewhere: an existing web ACL by ARN, or a clear error', () => {
    const webAclArn = 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/nms/0f1e2d3c';
    const { t } = synth({ webhook: { cloudFront: { webAclArn } } }, 'eu-west-1');
    t.resourceCountIs('AWS::WAFv2::WebACL', 0);
    t.hasResourceProperties('AWS::CloudFront::Distribution', { DistributionConfig: { WebACLId: webAclArn } });
    expect(() => synth({ webhook: { cloudFront: true } }, 'eu-west-1')).toThrow(/only be created in us-east-1.*webAclArn/);
  });

  it('the rate limit is checked: WAF takes 10 or more', () => {
    expect(() => synth({ webhook: { cloudFront: { rateLimitPer5Minutes: 5 } } }, 'us-east-1')).toThrow(/rateLimitPer5Minutes/);
  });
});
