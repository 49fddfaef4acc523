/**
 * NangoMetadataSync: every prop changes what it says in the template. Two synths cover them all
 * (each prop set to a non-default value in one of them), to keep the file fast.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sm from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NangoMetadataSync } from '../../infra/construct/index.ts';
import { newApp, SAMPLE_CATALOG } from './helpers.ts';

const WEBHOOK_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango-webhook-AbC123';
const WEBHOOK_SECRET_PARTIAL = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango-webhook';
const IMPORTED_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const PRODUCER = 'arn:aws:iam::123456789012:role/producer';

let a: Template; // every tunable changed
let b: Template; // given secrets and topic, no schedule, X-Ray tracing, grants
let bIds: { secretKey: string; replayer: string };
let syncB: NangoMetadataSync;

beforeAll(() => {
  const appA = newApp();
  const stackA = new Stack(appA, 'A');
  const bus = new events.EventBus(stackA, 'Bus', { eventBusName: 'domain-events' });
  const ruleDlq = new sqs.Queue(stackA, 'RuleDlq', { enforceSSL: true });
  new NangoMetadataSync(stackA, 'Sync', {
    catalog: SAMPLE_CATALOG,
    nangoHost: 'https://nango.internal.example.com',
    nangoEndpoint: 'legacy',
    nangoTimeout: Duration.seconds(5),
    nangoRateLimitWindow: Duration.seconds(30),
    secretCacheTtl: Duration.minutes(1),
    secretId: 'prod/nango',
    webhookSecretId: WEBHOOK_SECRET_ARN,
    eventBus: bus,
    rule: { retryAttempts: 3, maxEventAge: Duration.hours(1), deadLetterQueue: ruleDlq, enabled: false },
    route: {
      timeout: Duration.seconds(20),
      memorySize: 1024,
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(5),
      maxConcurrency: 50,
      indexTtl: Duration.minutes(10),
      indexEmptyTtl: Duration.seconds(30),
      maxConnectionsPerSubject: 7,
      maxIntegrationsPerEvent: 3,
      maxFutureSkew: Duration.minutes(1),
    },
    apply: {
      timeout: Duration.seconds(60),
      memorySize: 768,
      batchSize: 5,
      maxConcurrency: 8,
      groupConcurrency: 4,
      maxDefer: Duration.seconds(0),
    },
    webhook: { timeout: Duration.seconds(15), memorySize: 384, reservedConcurrency: 20, maxBodyBytes: 131_072 },
    reconcile: { schedule: 'cron(0 3 * * ? *)', timeout: Duration.minutes(10), memorySize: 1024 },
    ingressQueue: {
      retentionPeriod: Duration.days(2),
      visibilityTimeout: Duration.minutes(10),
      maxReceiveCount: 3,
      deliveryDelay: Duration.seconds(1),
    },
    syncQueue: {
      retentionPeriod: Duration.days(7),
      visibilityTimeout: Duration.minutes(15),
      maxReceiveCount: 12,
      deliveryDelay: Duration.seconds(0),
    },
    dlqRetentionPeriod: Duration.days(10),
    table: { deletionProtection: false, tableName: 'nango-sync-state' },
    logRetention: logs.RetentionDays.ONE_WEEK,
    logLevel: 'DEBUG',
    serviceName: 'nms-prod',
    metricsNamespace: 'Acme/NangoSync',
    alarms: {
      email: 'ops@example.com',
      ingressOldestMessageAge: Duration.minutes(2),
      syncOldestMessageAge: Duration.minutes(30),
      dlqOldestMessageAge: Duration.days(7),
    },
    dashboardName: 'nango-sync-prod',
  });
  a = Template.fromStack(stackA);

  const appB = newApp();
  const stackB = new Stack(appB, 'B');
  const key = new kms.Key(stackB, 'SecretKey');
  const secret = new sm.Secret(stackB, 'Mine', { encryptionKey: key });
  const topic = sns.Topic.fromTopicArn(stackB, 'Ops', 'arn:aws:sns:eu-west-1:123456789012:ops');
  const sync = new NangoMetadataSync(stackB, 'Sync', {
    catalog: SAMPLE_CATALOG,
    secret,
    webhookSecretId: WEBHOOK_SECRET_PARTIAL,
    webhookSecretEncryptionKey: kms.Key.fromKeyArn(stackB, 'WebhookKey', IMPORTED_KEY),
    reconcile: { schedule: false },
    tracing: lambda.Tracing.ACTIVE,
    alarms: { topic },
  });
  const replayer = new iam.Role(stackB, 'Replayer', { assumedBy: new iam.AccountRootPrincipal() });
  sync.grantReplay(replayer);
  sync.grantPurge(replayer);
  sync.grantSend(iam.Role.fromRoleArn(stackB, 'Producer', PRODUCER));
  syncB = sync;
  b = Template.fromStack(stackB);
  const idOf = (t: Template, type: string, prefix: string) => Object.keys(t.findResources(type)).find((id) => id.startsWith(prefix))!;
  bIds = { secretKey: idOf(b, 'AWS::KMS::Key', 'SecretKey'), replayer: idOf(b, 'AWS::IAM::Role', 'Replayer') };
});

const find = (t: Template, type: string, name: string) => {
  const found = Object.entries(t.findResources(type)).filter(([id]) => new RegExp(`^Sync${name}[0-9A-F]{8}$`).test(id));
  if (found.length !== 1) throw new Error(`expected one ${type} ${name}, found ${found.length}`);
  return { id: found[0]![0], ...(found[0]![1] as { Properties: any; DeletionPolicy?: string }) };
};
const fn = (t: Template, name: string) => find(t, 'AWS::Lambda::Function', name).Properties;
const env = (t: Template, name: string) => fn(t, name).Environment.Variables as Record<string, unknown>;
const queue = (t: Template, name: string) => find(t, 'AWS::SQS::Queue', name).Properties;
const statements = (t: Template) =>
  Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
const roleStatements = (t: Template, role: string) =>
  Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p: any) => p.Properties.Roles.some((r: any) => r.Ref === role))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
const NANGO_FUNCTIONS = ['Route', 'Apply', 'Reconcile'];

describe('Nango settings', () => {
  it('nangoHost, nangoEndpoint, nangoTimeout, nangoRateLimitWindow, secretCacheTtl reach every function that reads them', () => {
    for (const f of NANGO_FUNCTIONS) {
      expect(env(a, f)).toMatchObject({
        NANGO_HOST: 'https://nango.internal.example.com',
        NANGO_ENDPOINT: 'legacy',
        NANGO_TIMEOUT_MS: '5000',
        NANGO_RATE_LIMIT_WINDOW_MS: '30000',
        SECRET_CACHE_TTL_SECONDS: '60',
      });
    }
    expect(env(a, 'Webhook').SECRET_CACHE_TTL_SECONDS).toBe('60');
    expect(env(a, 'Webhook')).not.toHaveProperty('NANGO_HOST');
  });
});

describe('secrets', () => {
  it('secretId as a name and webhookSecretId as a complete ARN: imported, nothing created, exact resources', () => {
    a.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const reads = statements(a).filter((s: any) => s.Action === 'secretsmanager:GetSecretValue');
    expect(reads).toHaveLength(4);
    for (const s of reads.filter((s: any) => s.Resource !== WEBHOOK_SECRET_ARN)) {
      expect(JSON.stringify(s.Resource)).toContain(':secret:prod/nango-??????');
    }
    expect(reads.filter((s: any) => s.Resource === WEBHOOK_SECRET_ARN)).toHaveLength(1);
    expect(JSON.stringify(env(a, 'Route').NANGO_SECRET_ID)).toContain(':secret:prod/nango"');
    expect(env(a, 'Webhook').WEBHOOK_SECRET_ID).toBe(WEBHOOK_SECRET_ARN);
  });

  it('secret as an ISecret with a customer key: used as given, the three Nango callers may decrypt with it', () => {
    b.resourceCountIs('AWS::SecretsManager::Secret', 1);
    const decrypts = statements(b).filter((s: any) => [s.Action].flat().includes('kms:Decrypt'));
    const own = decrypts.filter((s: any) => JSON.stringify(s.Resource).includes(bIds.secretKey));
    expect(own).toHaveLength(3);
  });

  it('webhookSecretId as a partial ARN (+ -??????) and webhookSecretEncryptionKey: only the webhook role gets them', () => {
    const webhookRole = find(b, 'AWS::IAM::Role', 'WebhookRole').id;
    const s = roleStatements(b, webhookRole);
    expect(s.filter((x: any) => x.Action === 'secretsmanager:GetSecretValue').map((x: any) => x.Resource)).toEqual([
      `${WEBHOOK_SECRET_PARTIAL}-??????`,
    ]);
    expect(s.filter((x: any) => [x.Action].flat().includes('kms:Decrypt')).map((x: any) => x.Resource)).toEqual([IMPORTED_KEY]);
    const elsewhere = statements(b).filter((x: any) => x.Resource === IMPORTED_KEY);
    expect(elsewhere).toHaveLength(1);
    expect(env(b, 'Webhook').WEBHOOK_SECRET_ID).toBe(WEBHOOK_SECRET_PARTIAL);
  });
});

describe('event bus and rule', () => {
  it('eventBus, retries, age, own DLQ, disabled', () => {
    a.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: Match.stringLikeRegexp('^Bus') },
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
  it('route: timeout, memory, batch, window, concurrency, index TTLs, limits; ingress visibility is the prop', () => {
    expect(fn(a, 'Route')).toMatchObject({ Timeout: 20, MemorySize: 1024 });
    expect(env(a, 'Route')).toMatchObject({
      INDEX_TTL_SECONDS: '600',
      INDEX_EMPTY_TTL_SECONDS: '30',
      MAX_CONNECTIONS_PER_SUBJECT: '7',
      MAX_INTEGRATIONS_PER_EVENT: '3',
      MAX_FUTURE_SKEW_SECONDS: '60',
      MAX_RECEIVE_COUNT: '3',
    });
    a.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 5,
      ScalingConfig: { MaximumConcurrency: 50 },
    });
  });

  it('apply: timeout, memory, batch, concurrency, group concurrency, deferral', () => {
    expect(fn(a, 'Apply')).toMatchObject({ Timeout: 60, MemorySize: 768 });
    expect(env(a, 'Apply')).toMatchObject({ APPLY_GROUP_CONCURRENCY: '4', APPLY_MAX_DEFER_SECONDS: '0', MAX_RECEIVE_COUNT: '12' });
    a.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 5, ScalingConfig: { MaximumConcurrency: 8 } });
  });

  it('webhook: timeout, memory, reserved concurrency, body limit', () => {
    expect(fn(a, 'Webhook')).toMatchObject({ Timeout: 15, MemorySize: 384, ReservedConcurrentExecutions: 20 });
    expect(env(a, 'Webhook').WEBHOOK_MAX_BODY_BYTES).toBe('131072');
  });

  it('reconcile: timeout, memory, a cron schedule; `false` deploys the function with no schedule (and no schedule alarm)', () => {
    expect(fn(a, 'Reconcile')).toMatchObject({ Timeout: 600, MemorySize: 1024 });
    expect(find(a, 'AWS::Events::Rule', 'ReconcileSchedule').Properties.ScheduleExpression).toBe('cron(0 3 * * ? *)');
    expect(fn(b, 'Reconcile')).toBeDefined();
    expect(Object.keys(b.findResources('AWS::Events::Rule')).filter((id) => id.startsWith('SyncReconcileSchedule'))).toEqual([]);
    expect(JSON.stringify(b.findResources('AWS::CloudWatch::Alarm'))).not.toContain('FailedInvocations');
    expect(JSON.stringify(a.findResources('AWS::CloudWatch::Alarm'))).toContain('FailedInvocations');
  });

  it('queues: retention, visibility, maxReceiveCount, delivery delay; DLQ retention', () => {
    expect(queue(a, 'Ingress')).toMatchObject({
      MessageRetentionPeriod: 172_800,
      VisibilityTimeout: 600,
      DelaySeconds: 1,
      RedrivePolicy: { maxReceiveCount: 3 },
    });
    expect(queue(a, 'SyncQueue')).toMatchObject({
      MessageRetentionPeriod: 604_800,
      VisibilityTimeout: 900,
      RedrivePolicy: { maxReceiveCount: 12 },
    });
    expect(queue(a, 'SyncQueue').DelaySeconds ?? 0).toBe(0);
    expect(queue(a, 'IngressDlq').MessageRetentionPeriod).toBe(864_000);
    expect(queue(a, 'SyncDlq').MessageRetentionPeriod).toBe(864_000);
  });

  it('table: deletion protection off and a fixed name; still retained', () => {
    const t = find(a, 'AWS::DynamoDB::Table', 'StateTable');
    expect(t.Properties).toMatchObject({ DeletionProtectionEnabled: false, TableName: 'nango-sync-state' });
    expect(t.DeletionPolicy).toBe('Retain');
  });

  it('catalog: a module that does not exist, or whose export is no catalog, is refused at synth', () => {
    expect(() => new NangoMetadataSync(new Stack(newApp(), 'E'), 'Sync', { catalog: { path: '/nonexistent/catalog.ts' } })).toThrow(
      /\/nonexistent\/catalog\.ts/,
    );
    expect(
      () => new NangoMetadataSync(new Stack(newApp(), 'F'), 'Sync', { catalog: { ...SAMPLE_CATALOG, exportName: 'indexCatalog' } }),
    ).toThrow(/export "indexCatalog" must be an array of defineEvent/);
  });
});

describe('observability', () => {
  it('logRetention, logLevel, serviceName, metricsNamespace (also in the dashboard and custom-metric alarms)', () => {
    const groups = Object.values(a.findResources('AWS::Logs::LogGroup')) as any[];
    expect(groups.map((g) => g.Properties.RetentionInDays)).toEqual([7, 7, 7, 7]);
    for (const f of ['Route', 'Apply', 'Webhook', 'Reconcile']) {
      expect(env(a, f)).toMatchObject({
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
        POWERTOOLS_SERVICE_NAME: 'nms-prod',
        POWERTOOLS_METRICS_NAMESPACE: 'Acme/NangoSync',
      });
    }
    const body = JSON.stringify((Object.values(a.findResources('AWS::CloudWatch::Dashboard'))[0] as any).Properties.DashboardBody);
    expect(body).toContain('Acme/NangoSync');
    expect(body).toContain('nms-prod');
    a.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Acme/NangoSync',
      MetricName: 'WebhookSignatureRejected',
      Dimensions: [{ Name: 'service', Value: 'nms-prod' }],
    });
  });

  it('tracing ACTIVE: X-Ray on every function, each role may put segments and telemetry (no resource-level permissions exist)', () => {
    for (const f of ['Route', 'Apply', 'Webhook', 'Reconcile']) {
      expect(fn(b, f).TracingConfig).toEqual({ Mode: 'Active' });
      const role = find(b, 'AWS::IAM::Role', `${f}Role`).id;
      expect(roleStatements(b, role)).toContainEqual(
        expect.objectContaining({ Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Resource: '*' }),
      );
    }
    expect(JSON.stringify(statements(a))).not.toContain('xray:');
  });

  it('alarms.email subscribes the address; age thresholds are props', () => {
    a.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    for (const threshold of [120, 1800, 7 * 86_400]) {
      a.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: threshold });
    }
  });

  it('alarms.topic: no topic or key is created; alarms notify the given topic', () => {
    b.resourceCountIs('AWS::SNS::Topic', 0);
    expect(Object.keys(b.findResources('AWS::KMS::Key'))).toEqual([bIds.secretKey]);
    for (const alarm of Object.values(b.findResources('AWS::CloudWatch::Alarm')) as any[]) {
      expect(alarm.Properties.AlarmActions).toEqual(['arn:aws:sns:eu-west-1:123456789012:ops']);
    }
  });

  it('dashboardName', () => {
    a.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'nango-sync-prod' });
  });
});

describe('grantSend and grantReplay', () => {
  const denyOf = (q: string) => {
    const id = find(b, 'AWS::SQS::Queue', q).id;
    const policy = Object.values(b.findResources('AWS::SQS::QueuePolicy')).find((p: any) => p.Properties.Queues[0].Ref === id) as any;
    return policy.Properties.PolicyDocument.Statement.find((s: any) => s.Sid === 'OnlyPipelineSenders');
  };
  const replayer = () => ({ 'Fn::GetAtt': [bIds.replayer, 'Arn'] });

  it('a producer given grantSend may send to ingress: IAM grant and an exception in the Deny', () => {
    expect(denyOf('Ingress').Condition.ArnNotEquals['aws:PrincipalArn']).toEqual(expect.arrayContaining([PRODUCER]));
    expect(denyOf('SyncQueue').Condition.ArnNotEquals['aws:PrincipalArn']).not.toContain(PRODUCER);
  });

  it('grantReplay (+ grantPurge): receive, delete, move tasks (and purge) on both DLQs, send to their source queues (and past their Deny)', () => {
    // Actions per resource (statements on one resource may be merged by the policy minimizer).
    const byResource = new Map<string, Set<string>>();
    for (const s of roleStatements(b, bIds.replayer) as any[]) {
      for (const r of [s.Resource].flat()) {
        const key = JSON.stringify(r);
        byResource.set(key, new Set([...(byResource.get(key) ?? []), ...[s.Action].flat()]));
      }
    }
    const arn = (q: string) => JSON.stringify({ 'Fn::GetAtt': [find(b, 'AWS::SQS::Queue', q).id, 'Arn'] });
    const dlqActions = [
      'sqs:CancelMessageMoveTask',
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ListMessageMoveTasks',
      'sqs:PurgeQueue',
      'sqs:ReceiveMessage',
      'sqs:StartMessageMoveTask',
    ];
    const send = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
    expect(Object.fromEntries([...byResource].map(([r, actions]) => [r, [...actions].sort()]))).toEqual({
      [arn('IngressDlq')]: dlqActions,
      [arn('SyncDlq')]: dlqActions,
      [arn('Ingress')]: send,
      [arn('SyncQueue')]: send,
    });
    for (const q of ['Ingress', 'SyncQueue']) expect(denyOf(q).Condition.ArnNotEquals['aws:PrincipalArn']).toContainEqual(replayer());
    for (const q of ['IngressDlq', 'SyncDlq']) expect(denyOf(q).Condition.ArnNotEquals['aws:PrincipalArn']).not.toContainEqual(replayer());
  });

  it('a service principal cannot be granted (it has no aws:PrincipalArn to except)', () => {
    expect(() => syncB.grantSend(new iam.ServicePrincipal('sns.amazonaws.com'))).toThrow(/one IAM role or user/);
  });

  it('an account principal cannot be granted: the Deny would then admit only the root user, no role of the account', () => {
    for (const p of [
      new iam.AccountRootPrincipal(),
      new iam.AccountPrincipal('123456789012'),
      new iam.ArnPrincipal('arn:aws:iam::123456789012:root'),
    ]) {
      expect(() => syncB.grantReplay(p)).toThrow(/account principal .* only the root user/);
      expect(() => syncB.grantSend(p)).toThrow(/account principal/);
    }
  });
});
