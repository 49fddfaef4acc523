/** The stack (outputs, bus, stage) and the app's configuration from context and NMS_* environment. */
import { describe, expect, it } from 'vitest';
import { Token } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { envName, readConfig, SETTINGS } from '../../infra/config.ts';
import { OutputKeys } from '../../infra/outputs.ts';
import { NangoMetadataSyncStack } from '../../infra/stack.ts';
import { newApp, SAMPLE_CATALOG, STACK_CONFIGS, STACK_ID, stackOf, synthStack } from './helpers.ts';

describe('NangoMetadataSyncStack', () => {
  it('outputs every key the DLQ tool reads, with the replay command for this stack', () => {
    const { template } = stackOf('defaults');
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).sort()).toEqual(Object.values(OutputKeys).sort());
    expect(outputs.ReplayCommand!.Value).toBe(`npm run dlq -- replay --stack ${STACK_ID} --dry-run`);
    expect(outputs.IngressQueueUrl!.Value).toEqual({ Ref: expect.stringMatching(/^SyncIngress[0-9A-F]{8}$/) });
    expect(outputs.SyncQueueUrl!.Value).toEqual({ Ref: expect.stringMatching(/^SyncSyncQueue[0-9A-F]{8}$/) });
    expect(outputs.SyncDlqUrl!.Value).toEqual({ Ref: expect.stringMatching(/^SyncSyncDlq[0-9A-F]{8}$/) });
    expect(outputs.StateTableName!.Value).toEqual({ Ref: expect.stringMatching(/^SyncStateTable[0-9A-F]{8}$/) });
    // The function URL (it ends with '/') followed by the path token, the UUID of the stack's id.
    expect(outputs.WebhookUrl!.Value).toEqual({
      'Fn::Join': [
        '',
        [
          { 'Fn::GetAtt': [expect.stringMatching(/^SyncWebhookFunctionUrl[0-9A-F]{8}$/), 'FunctionUrl'] },
          { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] },
        ],
      ],
    });
    expect(outputs.WebhookSecretArn!.Value).toEqual({ Ref: expect.stringMatching(/^SyncWebhookSecret[0-9A-F]{8}$/) });
    expect(outputs.ReconcileFunctionName!.Value).toEqual({ Ref: expect.stringMatching(/^SyncReconcile[0-9A-F]{8}$/) });
    expect(JSON.stringify(outputs)).not.toMatch(/patch/i);
    expect(outputs.EventBusName!.Value).toBe('default');
  });

  it('names the service and dashboard after the stage', () => {
    const { template } = stackOf('lean'); // stage prod
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'nango-metadata-sync-prod' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'nango-metadata-sync-prod' } },
    });
  });

  it('createEventBus creates the bus (named after the stage by default) and the rule listens on it', () => {
    const { template } = stackOf('wide'); // stage qa, createEventBus
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'nango-metadata-sync-qa' });
    template.hasResourceProperties('AWS::Events::Rule', { EventBusName: { Ref: Match.stringLikeRegexp('^EventBus') } });
    const named = synthStack({ createEventBus: true, eventBusName: 'domain' }).template;
    named.hasResourceProperties('AWS::Events::EventBus', { Name: 'domain' });
  });

  it('eventBusName alone uses an existing bus; nothing is created', () => {
    const { template } = stackOf('lean'); // eventBusName domain-events
    template.resourceCountIs('AWS::Events::EventBus', 0);
    template.hasResourceProperties('AWS::Events::Rule', { EventBusName: 'domain-events' });
  });

  it('producerArns may send to ingress, operatorArns may replay, only purgerArns may purge: queue policies allow them and except them from the Deny', () => {
    const producer = STACK_CONFIGS.wide.producerArns[0]!;
    const operator = STACK_CONFIGS.wide.operatorArns[0]!;
    const purger = STACK_CONFIGS.cloudFront.purgerArns[0]!;
    const { template } = synthStack({ producerArns: [producer], operatorArns: [operator], purgerArns: [purger] });
    const policyOf = (prefix: string) => {
      const found = Object.entries(template.findResources('AWS::SQS::QueuePolicy')).find(([, p]: [string, any]) =>
        new RegExp(`^${prefix}[0-9A-F]{8}$`).test(p.Properties.Queues[0].Ref),
      );
      return (found![1] as any).Properties.PolicyDocument.Statement as any[];
    };
    const exceptions = (prefix: string) =>
      policyOf(prefix).find((st) => st.Sid === 'OnlyPipelineSenders').Condition.ArnNotEquals['aws:PrincipalArn'];
    const allowed = (prefix: string, arn: string) =>
      policyOf(prefix)
        .filter((st) => st.Effect === 'Allow' && [st.Principal.AWS].flat().includes(arn))
        .flatMap((st) => [st.Action].flat())
        .sort();
    expect(exceptions('SyncIngress')).toEqual(expect.arrayContaining([producer, operator]));
    expect(exceptions('SyncSyncQueue')).toContain(operator);
    expect(exceptions('SyncSyncQueue')).not.toContain(producer);
    expect(allowed('SyncIngress', producer)).toEqual(['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']);
    expect(allowed('SyncSyncQueue', producer)).toEqual([]);
    for (const dlq of ['SyncIngressDlq', 'SyncSyncDlq']) {
      expect(allowed(dlq, operator)).toEqual(
        expect.arrayContaining(['sqs:DeleteMessage', 'sqs:ReceiveMessage', 'sqs:StartMessageMoveTask']),
      );
      expect(allowed(dlq, operator)).not.toContain('sqs:PurgeQueue');
      expect(allowed(dlq, purger)).toContain('sqs:PurgeQueue');
      expect(allowed(dlq, producer)).toEqual([]);
    }
  });

  it('refuses producer or operator ARNs that are not IAM roles or users', () => {
    expect(
      () =>
        new NangoMetadataSyncStack(newApp(), 'S', {
          stage: 'x',
          catalog: SAMPLE_CATALOG,
          operatorArns: ['arn:aws:sns:eu-west-1:123456789012:t', 'bob'],
        }),
    ).toThrow(
      /producerArns, operatorArns and purgerArns must be IAM role or user ARNs \(got "arn:aws:sns:eu-west-1:123456789012:t", "bob"\)/,
    );
  });

  it('refuses a stage name that cannot name resources', () => {
    expect(() => new NangoMetadataSyncStack(newApp(), 'S', { stage: 'has space', catalog: SAMPLE_CATALOG })).toThrow(
      /stage must be 1-32 letters, digits or '-' \(got "has space"\)/,
    );
  });

  it('is environment-agnostic: no account or region baked in, so synth needs no credentials', () => {
    const { stack } = stackOf('defaults');
    expect(Token.isUnresolved(stack.account)).toBe(true);
    expect(Token.isUnresolved(stack.region)).toBe(true);
  });
});

describe('readConfig', () => {
  const none = () => undefined;

  it('defaults: stage dev, stack NangoMetadataSync-dev, everything else left to the construct', () => {
    const c = readConfig(none, {});
    expect(c.stackName).toBe('NangoMetadataSync-dev');
    expect(c.props.stage).toBe('dev');
    expect(c.props.sync?.route).toEqual({
      batchSize: undefined,
      maxBatchingWindow: undefined,
      maxConcurrency: undefined,
      timeout: undefined,
      memorySize: undefined,
    });
    expect(c.props.sync?.reconcile).toEqual({ schedule: undefined, timeout: undefined });
    expect(c.props.sync?.table).toEqual({ deletionProtection: undefined, tableName: undefined });
    expect(c.props.sync?.secretId).toBeUndefined();
  });

  it('context strings (-c key=value) are parsed into the props', () => {
    const ctx: Record<string, string> = {
      stage: 'prod',
      nangoHost: 'https://nango.example.com',
      nangoEndpoint: 'legacy',
      secretId: 'prod/nango',
      eventBusName: 'domain',
      createEventBus: 'true',
      alarmEmail: 'ops@example.com',
      routeBatchSize: '100',
      routeMaxBatchingWindowSeconds: '3',
      applyMaxConcurrency: '5',
      syncMaxReceiveCount: '8',
      webhookSecretId: 'prod/nango-webhook',
      webhookReservedConcurrency: '12',
      webhookTimeoutSeconds: '8',
      reconcileSchedule: 'rate(6 hours)',
      reconcileTimeoutSeconds: '120',
      tableDeletionProtection: 'false',
      tableName: 'nango-state',
      logRetentionDays: '90',
      nangoTimeoutMs: '4000',
    };
    const c = readConfig((k) => ctx[k], {});
    expect(c.stackName).toBe('NangoMetadataSync-prod');
    expect(c.props).toMatchObject({ stage: 'prod', eventBusName: 'domain', createEventBus: true });
    expect(c.props.sync).toMatchObject({
      nangoHost: 'https://nango.example.com',
      nangoEndpoint: 'legacy',
      secretId: 'prod/nango',
      logRetention: 90,
      alarms: { email: 'ops@example.com' },
      route: { batchSize: 100 },
      webhookSecretId: 'prod/nango-webhook',
      apply: { maxConcurrency: 5 },
      syncQueue: { maxReceiveCount: 8 },
      webhook: { reservedConcurrency: 12 },
      reconcile: { schedule: 'rate(6 hours)' },
      table: { deletionProtection: false, tableName: 'nango-state' },
    });
    expect(c.props.sync?.webhook?.timeout?.toSeconds()).toBe(8);
    expect(c.props.sync?.reconcile?.timeout?.toSeconds()).toBe(120);
    expect(c.props.sync?.route?.maxBatchingWindow?.toSeconds()).toBe(3);
    expect(c.props.sync?.nangoTimeout?.toMilliseconds()).toBe(4000);
  });

  it('NMS_* environment variables fill what context does not give; context wins', () => {
    expect(envName('routeMaxConcurrency')).toBe('NMS_ROUTE_MAX_CONCURRENCY');
    const c = readConfig((k) => (k === 'stage' ? 'ctx' : undefined), {
      NMS_STAGE: 'env',
      NMS_SECRET_ID: 'from/env',
      NMS_STACK_NAME: 'Custom',
    });
    expect(c.props.stage).toBe('ctx');
    expect(c.props.sync?.secretId).toBe('from/env');
    expect(c.stackName).toBe('Custom');
  });

  it('reconcileSchedule false turns the schedule off (string from -c, boolean from cdk.json)', () => {
    expect(readConfig((k) => (k === 'reconcileSchedule' ? 'false' : undefined), {}).props.sync?.reconcile?.schedule).toBe(false);
    expect(readConfig((k) => (k === 'reconcileSchedule' ? false : undefined), {}).props.sync?.reconcile?.schedule).toBe(false);
    expect(readConfig(() => undefined, { NMS_RECONCILE_SCHEDULE: 'false' }).props.sync?.reconcile?.schedule).toBe(false);
  });

  it('the webhook front and log settings: path token, CloudFront (created or an existing web ACL), subject ids', () => {
    const ctx = (vals: Record<string, unknown>) => (k: string) => vals[k];
    const a = readConfig(ctx({ webhookPathToken: 'rotated-2026-12_abcdef', webhookCloudFront: 'true', logSubjectIds: 'true' }), {});
    expect(a.props.sync?.webhook).toMatchObject({ pathToken: 'rotated-2026-12_abcdef', cloudFront: true });
    expect(a.props.sync?.logSubjectIds).toBe(true);
    const acl = 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/nms/0f1e2d3c';
    expect(readConfig(() => undefined, { NMS_WEBHOOK_WEB_ACL_ARN: acl }).props.sync?.webhook?.cloudFront).toEqual({ webAclArn: acl });
    expect(readConfig(() => undefined, {}).props.sync?.webhook?.cloudFront).toBeUndefined();
    expect(() => readConfig(ctx({ logSubjectIds: 'yes' }), {})).toThrow(/logSubjectIds .* must be true or false/);
  });

  it('producerArns and operatorArns: comma-separated from -c or env, lists from cdk.json', () => {
    const c = readConfig((k) => (k === 'producerArns' ? 'arn:aws:iam::123456789012:role/a, arn:aws:iam::123456789012:role/b' : undefined), {
      NMS_OPERATOR_ARNS: 'arn:aws:iam::123456789012:user/ops',
    });
    expect(c.props.producerArns).toEqual(['arn:aws:iam::123456789012:role/a', 'arn:aws:iam::123456789012:role/b']);
    expect(c.props.operatorArns).toEqual(['arn:aws:iam::123456789012:user/ops']);
    const fromJson = readConfig((k) => (k === 'operatorArns' ? ['arn:aws:iam::123456789012:role/x'] : undefined), {});
    expect(fromJson.props.operatorArns).toEqual(['arn:aws:iam::123456789012:role/x']);
    expect(readConfig(() => undefined, {}).props.producerArns).toBeUndefined();
  });

  it('numbers from cdk.json stay numbers; booleans too', () => {
    const c = readConfig((k) => ({ applyBatchSize: 5, createEventBus: false })[k as 'applyBatchSize'], {});
    expect(c.props.sync?.apply?.batchSize).toBe(5);
    expect(c.props.createEventBus).toBe(false);
  });

  it('bad values name the key and its environment variable, all at once', () => {
    const ctx: Record<string, string> = { routeBatchSize: 'lots', createEventBus: 'yes', logRetentionDays: '31' };
    let message = '';
    try {
      readConfig((k) => ctx[k], {});
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^invalid deployment configuration:/);
    expect(message).toContain('routeBatchSize (context) / NMS_ROUTE_BATCH_SIZE (env) must be an integer (got "lots")');
    expect(message).toContain('createEventBus (context) / NMS_CREATE_EVENT_BUS (env) must be true or false (got "yes")');
    expect(message).toContain('logRetentionDays must be a CloudWatch Logs retention such as 1, 7, 30, 90, 365 (got 31)');
  });

  it('every documented setting is read (no key in SETTINGS is ignored)', () => {
    const seen = new Set<string>();
    readConfig((k) => {
      seen.add(k);
      return undefined;
    }, {});
    expect([...seen].sort()).toEqual(Object.keys(SETTINGS).sort());
  });
});
