/** NangoMetadataSync: every prop changes what it says in the template. */
import { describe, expect, it } from 'vitest';
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sm from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NangoMetadataSync } from '../../infra/nango-metadata-sync.ts';
import { newApp, synthConstruct } from './helpers.ts';

const fnEnv = (t: Template, idPrefix: 'SyncRoute' | 'SyncApply') => {
  const fns = Object.entries(t.findResources('AWS::Lambda::Function')).filter(([id]) => /^Sync(Route|Apply)[0-9A-F]{8}$/.test(id));
  const found = fns.find(([id]) => id.startsWith(idPrefix));
  if (!found) throw new Error(`no ${idPrefix}`);
  return (found[1] as any).Properties as Record<string, any>;
};
const queue = (t: Template, name: 'Ingress' | 'Patches' | 'IngressDlq' | 'PatchesDlq') => {
  const found = Object.entries(t.findResources('AWS::SQS::Queue')).find(([id]) => new RegExp(`^Sync${name}[0-9A-F]{8}$`).test(id));
  if (!found) throw new Error(`no ${name}`);
  return (found[1] as any).Properties as Record<string, any>;
};
const policyStatements = (t: Template) =>
  Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
const secretStatements = (t: Template) => policyStatements(t).filter((s: any) => s.Action === 'secretsmanager:GetSecretValue');

describe('Nango settings', () => {
  it('nangoHost, nangoEndpoint, nangoTimeout, secretCacheTtl reach both functions', () => {
    const { template: t } = synthConstruct({
      nangoHost: 'https://nango.internal.example.com',
      nangoEndpoint: 'legacy',
      nangoTimeout: Duration.seconds(5),
      secretCacheTtl: Duration.minutes(1),
    });
    for (const fn of ['SyncRoute', 'SyncApply'] as const) {
      expect(fnEnv(t, fn).Environment.Variables).toMatchObject({
        NANGO_HOST: 'https://nango.internal.example.com',
        NANGO_ENDPOINT: 'legacy',
        NANGO_TIMEOUT_MS: '5000',
        SECRET_CACHE_TTL_SECONDS: '60',
      });
    }
  });
});

describe('secret', () => {
  it('secretId as a name: imported (no secret created), GetSecretValue on name-?????? only', () => {
    const { template: t } = synthConstruct({ secretId: 'prod/nango' });
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const statements = secretStatements(t);
    expect(statements).toHaveLength(2);
    for (const s of statements) {
      const joined = JSON.stringify(s.Resource);
      expect(joined).toContain(':secret:prod/nango-??????');
      expect(joined).not.toContain('*');
    }
    // The functions get the (partial) ARN, which GetSecretValue accepts.
    expect(JSON.stringify(fnEnv(t, 'SyncRoute').Environment.Variables.NANGO_SECRET_ID)).toContain(':secret:prod/nango"');
  });

  it('secretId as a complete ARN: exactly that ARN', () => {
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango-AbC123';
    const { template: t } = synthConstruct({ secretId: secretArn });
    for (const s of secretStatements(t)) expect(s.Resource).toBe(secretArn);
    expect(fnEnv(t, 'SyncApply').Environment.Variables.NANGO_SECRET_ID).toBe(secretArn);
  });

  it('secretId as a partial ARN: that ARN plus the -?????? suffix', () => {
    const partial = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango';
    const { template: t } = synthConstruct({ secretId: partial });
    for (const s of secretStatements(t)) expect(s.Resource).toBe(`${partial}-??????`);
    expect(fnEnv(t, 'SyncRoute').Environment.Variables.NANGO_SECRET_ID).toBe(partial);
  });

  it('secret (an ISecret) is used as given; its customer key, or secretEncryptionKey, gets kms:Decrypt', () => {
    const app = newApp();
    const stack = new Stack(app, 'T');
    const key = new kms.Key(stack, 'SecretKey');
    const secret = new sm.Secret(stack, 'Mine', { encryptionKey: key });
    new NangoMetadataSync(stack, 'Sync', { secret });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::SecretsManager::Secret', 1);
    const keyId = Object.keys(t.findResources('AWS::KMS::Key')).find((id) => id.startsWith('SecretKey'));
    const decrypts = policyStatements(t).filter((s: any) => [s.Action].flat().includes('kms:Decrypt'));
    expect(decrypts).toHaveLength(2);
    for (const s of decrypts) expect(s.Resource).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });

    const imported = newApp();
    const stack2 = new Stack(imported, 'T2');
    const key2 = kms.Key.fromKeyArn(stack2, 'K', 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555');
    new NangoMetadataSync(stack2, 'Sync', { secretId: 'prod/nango', secretEncryptionKey: key2 });
    const decrypts2 = policyStatements(Template.fromStack(stack2)).filter((s: any) => [s.Action].flat().includes('kms:Decrypt'));
    expect(decrypts2.map((s: any) => s.Resource)).toEqual([key2.keyArn, key2.keyArn]);
  });
});

describe('event bus, catalog and rule', () => {
  it('eventBus: the rule listens on it', () => {
    const app = newApp();
    const stack = new Stack(app, 'T');
    const bus = new events.EventBus(stack, 'Bus', { eventBusName: 'domain-events' });
    new NangoMetadataSync(stack, 'Sync', { eventBus: bus });
    Template.fromStack(stack).hasResourceProperties('AWS::Events::Rule', { EventBusName: { Ref: Match.stringLikeRegexp('^Bus') } });
  });

  it('rule options: retries, age, own DLQ, disabled', () => {
    const app = newApp();
    const stack = new Stack(app, 'T');
    const dlq = new sqs.Queue(stack, 'RuleDlq', { enforceSSL: true });
    new NangoMetadataSync(stack, 'Sync', {
      rule: { retryAttempts: 3, maxEventAge: Duration.hours(1), deadLetterQueue: dlq, enabled: false },
    });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Events::Rule', {
      State: 'DISABLED',
      Targets: [
        Match.objectLike({
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RuleDlq'), 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
        }),
      ],
    });
  });
});

describe('function and queue tuning', () => {
  it('route options: timeout, memory, batch, window, concurrency, connections cache; ingress visibility follows', () => {
    const { template: t } = synthConstruct({
      route: {
        timeout: Duration.seconds(20),
        memorySize: 1024,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(5),
        maxConcurrency: 50,
        connectionsCacheTtl: Duration.seconds(10),
      },
    });
    const fn = fnEnv(t, 'SyncRoute');
    expect(fn.Timeout).toBe(20);
    expect(fn.MemorySize).toBe(1024);
    expect(fn.Environment.Variables.CONNECTIONS_CACHE_TTL_SECONDS).toBe('10');
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 5,
      ScalingConfig: { MaximumConcurrency: 50 },
    });
    expect(queue(t, 'Ingress').VisibilityTimeout).toBe(20 * 6 + 5);
  });

  it('apply options: timeout, memory, batch, concurrency, group concurrency, ordering; patches visibility follows', () => {
    const { template: t } = synthConstruct({
      apply: { timeout: Duration.seconds(90), memorySize: 256, batchSize: 5, maxConcurrency: 8, groupConcurrency: 4, ordering: 'arrival' },
    });
    const fn = fnEnv(t, 'SyncApply');
    expect(fn.Timeout).toBe(90);
    expect(fn.MemorySize).toBe(256);
    expect(fn.Environment.Variables).toMatchObject({ APPLY_GROUP_CONCURRENCY: '4', ORDERING: 'arrival' });
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 5, ScalingConfig: { MaximumConcurrency: 8 } });
    expect(queue(t, 'Patches').VisibilityTimeout).toBe(540);
  });

  it('queue options: retention, visibility, maxReceiveCount (and apply learns the patches count)', () => {
    const { template: t } = synthConstruct({
      ingressQueue: { retentionPeriod: Duration.days(2), visibilityTimeout: Duration.minutes(10), maxReceiveCount: 3 },
      patchesQueue: { retentionPeriod: Duration.days(7), visibilityTimeout: Duration.minutes(15), maxReceiveCount: 12 },
      dlqRetentionPeriod: Duration.days(10),
    });
    expect(queue(t, 'Ingress')).toMatchObject({
      MessageRetentionPeriod: 172_800,
      VisibilityTimeout: 600,
      RedrivePolicy: { maxReceiveCount: 3 },
    });
    expect(queue(t, 'Patches')).toMatchObject({
      MessageRetentionPeriod: 604_800,
      VisibilityTimeout: 900,
      RedrivePolicy: { maxReceiveCount: 12 },
    });
    expect(queue(t, 'IngressDlq').MessageRetentionPeriod).toBe(864_000);
    expect(queue(t, 'PatchesDlq').MessageRetentionPeriod).toBe(864_000);
    expect(fnEnv(t, 'SyncApply').Environment.Variables.MAX_RECEIVE_COUNT).toBe('12');
    expect(fnEnv(t, 'SyncRoute').Environment.Variables.MAX_RECEIVE_COUNT).toBe('3');
  });
});

describe('observability', () => {
  it('logRetention, logLevel, serviceName, metricsNamespace', () => {
    const { template: t } = synthConstruct({
      logRetention: logs.RetentionDays.ONE_WEEK,
      logLevel: 'DEBUG',
      serviceName: 'nms-prod',
      metricsNamespace: 'Acme/NangoSync',
    });
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup')) as any[];
    expect(groups.map((g) => g.Properties.RetentionInDays)).toEqual([7, 7]);
    for (const fn of ['SyncRoute', 'SyncApply'] as const) {
      expect(fnEnv(t, fn).Environment.Variables).toMatchObject({
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
        POWERTOOLS_SERVICE_NAME: 'nms-prod',
        POWERTOOLS_METRICS_NAMESPACE: 'Acme/NangoSync',
      });
    }
    const body = JSON.stringify((Object.values(t.findResources('AWS::CloudWatch::Dashboard'))[0] as any).Properties.DashboardBody);
    expect(body).toContain('Acme/NangoSync');
    expect(body).toContain('nms-prod');
  });

  it('tracing DISABLED: no tracing config and no X-Ray grant', () => {
    const { template: t } = synthConstruct({ tracing: lambda.Tracing.DISABLED });
    for (const fn of ['SyncRoute', 'SyncApply'] as const) expect(fnEnv(t, fn).TracingConfig).toBeUndefined();
    expect(JSON.stringify(policyStatements(t))).not.toContain('xray:');
  });

  it('alarms.email subscribes the address; age thresholds are props', () => {
    const { template: t } = synthConstruct({
      alarms: { email: 'ops@example.com', ingressOldestMessageAge: Duration.minutes(2), patchesOldestMessageAge: Duration.minutes(30) },
    });
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 120 });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 1800 });
  });

  it('alarms.topic: no topic or key is created; alarms notify the given topic', () => {
    const app = newApp();
    const stack = new Stack(app, 'T');
    const topic = sns.Topic.fromTopicArn(stack, 'Ops', 'arn:aws:sns:eu-west-1:123456789012:ops');
    new NangoMetadataSync(stack, 'Sync', { alarms: { topic } });
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::SNS::Topic', 0);
    t.resourceCountIs('AWS::KMS::Key', 0);
    for (const a of Object.values(t.findResources('AWS::CloudWatch::Alarm')) as any[]) {
      expect(a.Properties.AlarmActions).toEqual(['arn:aws:sns:eu-west-1:123456789012:ops']);
    }
  });

  it('dashboardName', () => {
    synthConstruct({ dashboardName: 'nango-sync-prod' }).template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: 'nango-sync-prod',
    });
  });
});
