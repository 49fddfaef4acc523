/**
 * cdk-nag 3 (AwsSolutions + Serverless) finds nothing unacknowledged, in the default stack and in
 * variants that create or drop resources; and every acknowledgment answers a real finding.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Validations, type App } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { addNagChecks, nagPacks } from '../../infra/nag.ts';
import { NangoMetadataSyncStack, type NangoMetadataSyncStackProps } from '../../infra/stack.ts';
import { ENTRY_FALLBACKS, newApp, synthStack } from './helpers.ts';

const findings = (app: App) =>
  nagPacks().flatMap((pack) =>
    pack.validateScope(app).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`)),
  );

const variants: [string, Partial<NangoMetadataSyncStackProps>][] = [
  ['defaults (placeholder secret, default bus)', {}],
  [
    'e-mail alarms, created bus, imported secrets by name, cron reconcile, producers and operators',
    {
      createEventBus: true,
      producerArns: ['arn:aws:iam::123456789012:role/orders-service'],
      operatorArns: ['arn:aws:iam::123456789012:role/ops/oncall'],
      sync: {
        alarms: { email: 'ops@example.com' },
        secretId: 'prod/nango',
        webhookSecretId: 'prod/nango-webhook',
        reconcile: { schedule: 'cron(0 3 * * ? *)' },
      },
    },
  ],
  [
    'existing bus, secrets by complete and partial ARN, tracing off, no reconcile schedule, no deletion protection',
    {
      eventBusName: 'domain-events',
      sync: {
        secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango-AbC123',
        webhookSecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango-webhook',
        tracing: lambda.Tracing.DISABLED,
        reconcile: { schedule: false },
        table: { deletionProtection: false },
      },
    },
  ],
  [
    'CloudFront and a WAF web ACL created in us-east-1, purgers',
    {
      env: { account: '123456789012', region: 'us-east-1' },
      purgerArns: ['arn:aws:iam::123456789012:role/ops/lead'],
      sync: { webhook: { cloudFront: true } },
    },
  ],
  [
    'CloudFront with an existing web ACL, stack in eu-west-1',
    {
      env: { account: '123456789012', region: 'eu-west-1' },
      sync: { webhook: { cloudFront: { webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/nms/0f1e2d3c' } } },
    },
  ],
];

describe('cdk-nag', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(variants)('no findings: %s', (_name, props) => {
    const { app } = synthStack(props);
    expect(findings(app)).toEqual([]);
  });

  it('synth with the packs as validation plugins succeeds and reports nothing', () => {
    const { app } = synthStack({ sync: { alarms: { email: 'ops@example.com' } } });
    addNagChecks(app);
    const assembly = app.synth();
    expect(assembly.stacks).toHaveLength(1);
  });

  it('control: synth with the plugins fails on a finding (an unencrypted queue)', () => {
    const app = newApp();
    const stack = new NangoMetadataSyncStack(app, 'Control', { stage: 'test', sync: { entries: ENTRY_FALLBACKS } });
    new sqs.Queue(stack, 'Plain', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    addNagChecks(app);
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
  });

  it('the packs do flag what an acknowledgment hides, and every acknowledgment is used', () => {
    // Record acknowledgments instead of applying them, then match each to a finding.
    const acks: { path: string; id: string; reason: string }[] = [];
    vi.spyOn(Validations.prototype, 'acknowledge').mockImplementation(function (this: any, ...rules) {
      for (const r of rules) acks.push({ path: this.scope.node.path, id: r.id, reason: r.reason });
    });
    const { app } = synthStack({ sync: { alarms: { email: 'ops@example.com' } } });
    const raw = findings(app);
    expect(raw.length).toBeGreaterThan(0);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      const used = raw.some((f) => f.startsWith(`${ack.id} at ${ack.path}/`) || f === `${ack.id} at ${ack.path}`);
      expect(used, `unused acknowledgment ${ack.id} on ${ack.path}`).toBe(true);
      expect(ack.reason.length, `${ack.id} needs a real reason`).toBeGreaterThan(60);
    }
  });
});
