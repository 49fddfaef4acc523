/**
 * NangoMetadataSync with no props: every default, asserted on the synthesized template.
 * Bundling is skipped (context aws:cdk:bundling-stacks = []); the bundle test covers the code.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { catalog } from '../../events/catalog.ts';
import { applyConfigSchema, routeConfigSchema } from '../../functions/commons/config.ts';
import { patternPairs, type CatalogEventPattern } from '../../infra/event-pattern.ts';
import { resource, synthConstruct } from './helpers.ts';

let t: Template;
const ids: Record<string, string> = {};

beforeAll(() => {
  t = synthConstruct().template;
  for (const [name, type] of [
    ['Ingress', 'AWS::SQS::Queue'],
    ['IngressDlq', 'AWS::SQS::Queue'],
    ['Patches', 'AWS::SQS::Queue'],
    ['PatchesDlq', 'AWS::SQS::Queue'],
    ['Route', 'AWS::Lambda::Function'],
    ['Apply', 'AWS::Lambda::Function'],
    ['RouteRole', 'AWS::IAM::Role'],
    ['ApplyRole', 'AWS::IAM::Role'],
    ['RouteLogs', 'AWS::Logs::LogGroup'],
    ['ApplyLogs', 'AWS::Logs::LogGroup'],
    ['NangoSecret', 'AWS::SecretsManager::Secret'],
    ['AlarmTopic', 'AWS::SNS::Topic'],
    ['AlarmTopicKey', 'AWS::KMS::Key'],
    ['Rule', 'AWS::Events::Rule'],
  ] as const) {
    // Logical ids are Sync<Name><hash>; "Ingress" must not pick "IngressDlq".
    const all = Object.keys(t.findResources(type)).filter((id) => new RegExp(`^Sync${name}[0-9A-F]{8}$`).test(id));
    expect(all, `${type} ${name}`).toHaveLength(1);
    ids[name] = all[0]!;
  }
});

const arn = (name: string) => ({ 'Fn::GetAtt': [ids[name], 'Arn'] });
const ref = (name: string) => ({ Ref: ids[name] });

/** A role's policy statements as "action,action -> resource" lines, so extra grants show up as a diff. */
function grants(roleName: string): string[] {
  const policies = Object.values(t.findResources('AWS::IAM::Policy')).filter((p: any) =>
    p.Properties.Roles.some((r: any) => r.Ref === ids[roleName]),
  );
  return policies
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement)
    .flatMap((s: any) => {
      expect(s.Effect).toBe('Allow');
      const actions = [s.Action].flat().sort().join(',');
      return [s.Resource].flat().map((r: any) => `${actions} -> ${JSON.stringify(r)}`);
    })
    .sort();
}

describe('queues', () => {
  it('creates exactly four queues, all SQS-managed SSE', () => {
    t.resourceCountIs('AWS::SQS::Queue', 4);
    for (const q of ['Ingress', 'IngressDlq', 'Patches', 'PatchesDlq']) {
      expect(resource(t, 'AWS::SQS::Queue', ids[q]!).Properties.SqsManagedSseEnabled).toBe(true);
    }
  });

  it('ingress is standard, 4 days, visibility 6 x 30 s + 1 s window, redrive to ingress-dlq after 5 receives', () => {
    const p = resource(t, 'AWS::SQS::Queue', ids.Ingress!).Properties;
    expect(p.FifoQueue).toBeUndefined();
    expect(p.MessageRetentionPeriod).toBe(345_600);
    expect(p.VisibilityTimeout).toBe(181);
    expect(p.RedrivePolicy).toEqual({ deadLetterTargetArn: arn('IngressDlq'), maxReceiveCount: 5 });
  });

  it('patches is high-throughput FIFO with explicit deduplication, visibility 6 x 60 s, redrive after 5', () => {
    const p = resource(t, 'AWS::SQS::Queue', ids.Patches!).Properties;
    expect(p).toMatchObject({
      FifoQueue: true,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      ContentBasedDeduplication: false,
      MessageRetentionPeriod: 345_600,
      VisibilityTimeout: 540,
      RedrivePolicy: { deadLetterTargetArn: arn('PatchesDlq'), maxReceiveCount: 5 },
    });
  });

  it('DLQs keep messages 14 days, longer than their sources; the patches DLQ is FIFO too', () => {
    const ingressDlq = resource(t, 'AWS::SQS::Queue', ids.IngressDlq!).Properties;
    const patchesDlq = resource(t, 'AWS::SQS::Queue', ids.PatchesDlq!).Properties;
    expect(ingressDlq.MessageRetentionPeriod).toBe(1_209_600);
    expect(ingressDlq.FifoQueue).toBeUndefined();
    expect(patchesDlq).toMatchObject({ FifoQueue: true, MessageRetentionPeriod: 1_209_600, DeduplicationScope: 'messageGroup' });
    expect(ingressDlq.RedrivePolicy).toBeUndefined();
    expect(patchesDlq.RedrivePolicy).toBeUndefined();
  });

  it('every queue refuses plain HTTP', () => {
    for (const q of ['Ingress', 'IngressDlq', 'Patches', 'PatchesDlq']) {
      t.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [ref(q)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Resource: arn(q),
            }),
          ]),
        },
      });
    }
  });
});

describe('functions', () => {
  const common = {
    Runtime: 'nodejs24.x',
    Architectures: ['arm64'],
    Handler: 'index.handler',
    MemorySize: 512,
    TracingConfig: { Mode: 'Active' },
  };

  it('route: nodejs24.x arm64, 30 s, 512 MB, own role and log group', () => {
    const p = resource(t, 'AWS::Lambda::Function', ids.Route!).Properties;
    expect(p).toMatchObject({ ...common, Timeout: 30, Role: arn('RouteRole'), LoggingConfig: { LogGroup: ref('RouteLogs') } });
    expect(p.DeadLetterConfig).toBeUndefined();
  });

  it('apply: nodejs24.x arm64, 90 s (a whole rate-limit window fits), 512 MB, own role and log group', () => {
    const p = resource(t, 'AWS::Lambda::Function', ids.Apply!).Properties;
    expect(p).toMatchObject({ ...common, Timeout: 90, Role: arn('ApplyRole'), LoggingConfig: { LogGroup: ref('ApplyLogs') } });
  });

  it('route environment: exactly the config.ts names, with the queue URLs and the secret; MAX_RECEIVE_COUNT equals the ingress redrive maxReceiveCount', () => {
    const env = resource(t, 'AWS::Lambda::Function', ids.Route!).Properties.Environment.Variables;
    expect(env.MAX_RECEIVE_COUNT).toBe(String(resource(t, 'AWS::SQS::Queue', ids.Ingress!).Properties.RedrivePolicy.maxReceiveCount));
    expect(env).toEqual({
      NANGO_HOST: 'https://api.nango.dev',
      NANGO_ENDPOINT: 'current',
      NANGO_SECRET_ID: ref('NangoSecret'),
      NANGO_TIMEOUT_MS: '10000',
      SECRET_CACHE_TTL_SECONDS: '300',
      PATCHES_QUEUE_URL: ref('Patches'),
      INGRESS_DLQ_URL: ref('IngressDlq'),
      MAX_RECEIVE_COUNT: '5',
      CONNECTIONS_CACHE_TTL_SECONDS: '60',
      POWERTOOLS_SERVICE_NAME: 'nango-metadata-sync',
      POWERTOOLS_METRICS_NAMESPACE: 'NangoMetadataSync',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
    });
  });

  it('apply environment: exactly the config.ts names; MAX_RECEIVE_COUNT equals the patches redrive maxReceiveCount', () => {
    const env = resource(t, 'AWS::Lambda::Function', ids.Apply!).Properties.Environment.Variables;
    expect(env).toEqual({
      NANGO_HOST: 'https://api.nango.dev',
      NANGO_ENDPOINT: 'current',
      NANGO_SECRET_ID: ref('NangoSecret'),
      NANGO_TIMEOUT_MS: '10000',
      SECRET_CACHE_TTL_SECONDS: '300',
      PATCHES_QUEUE_URL: ref('Patches'),
      PATCHES_DLQ_URL: ref('PatchesDlq'),
      MAX_RECEIVE_COUNT: '5',
      APPLY_GROUP_CONCURRENCY: '8',
      ORDERING: 'event-time',
      POWERTOOLS_SERVICE_NAME: 'nango-metadata-sync',
      POWERTOOLS_METRICS_NAMESPACE: 'NangoMetadataSync',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
    });
    expect(env.MAX_RECEIVE_COUNT).toBe(String(resource(t, 'AWS::SQS::Queue', ids.Patches!).Properties.RedrivePolicy.maxReceiveCount));
  });

  it('the handlers accept the environment the construct sets (config.ts schemas, tokens replaced)', () => {
    const concrete = (env: Record<string, unknown>) =>
      Object.fromEntries(
        Object.entries(env).map(([k, v]) => [
          k,
          typeof v === 'string'
            ? v
            : k === 'NANGO_SECRET_ID'
              ? 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf'
              : 'https://sqs.us-east-1.amazonaws.com/123456789012/q',
        ]),
      );
    for (const [fn, schema] of [
      ['Route', routeConfigSchema],
      ['Apply', applyConfigSchema],
    ] as const) {
      const env = resource(t, 'AWS::Lambda::Function', ids[fn]!).Properties.Environment.Variables;
      expect(schema.safeParse(concrete(env)).success, fn).toBe(true);
      const known = new Set(Object.keys(schema.shape));
      const unknown = Object.keys(env).filter((k) => !known.has(k) && !k.startsWith('POWERTOOLS_') && k !== 'NODE_OPTIONS');
      expect(unknown, `${fn} sets variables config.ts does not read`).toEqual([]);
    }
  });

  it('log groups keep 30 days and are retained', () => {
    for (const g of ['RouteLogs', 'ApplyLogs']) {
      t.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Retain' });
      expect(resource(t, 'AWS::Logs::LogGroup', ids[g]!).Properties.RetentionInDays).toBe(30);
    }
  });

  it('event sources: report batch item failures; route 50 records / 1 s / 10 concurrent; apply 10 / 2 concurrent', () => {
    t.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref('Route'),
      EventSourceArn: arn('Ingress'),
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: 1,
      ScalingConfig: { MaximumConcurrency: 10 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref('Apply'),
      EventSourceArn: arn('Patches'),
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: Match.absent(),
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});

describe('IAM: least privilege', () => {
  it('roles carry no managed policies (no AWSLambdaBasicExecutionRole)', () => {
    for (const r of ['RouteRole', 'ApplyRole']) {
      expect(resource(t, 'AWS::IAM::Role', ids[r]!).Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  const consume = 'sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:ReceiveMessage';
  const send = 'sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage';
  const logsWrite = 'logs:CreateLogStream,logs:PutLogEvents';
  const xray = 'xray:PutTelemetryRecords,xray:PutTraceSegments';
  const line = (actions: string, res: unknown) => `${actions} -> ${JSON.stringify(res)}`;

  it('route: consume ingress, send to patches and ingress-dlq, read the secret, write its logs; nothing else', () => {
    expect(grants('RouteRole')).toEqual(
      [
        line(logsWrite, arn('RouteLogs')),
        line(xray, '*'),
        line(consume, arn('Ingress')),
        line(send, arn('IngressDlq')),
        line(send, arn('Patches')),
        line('secretsmanager:GetSecretValue', ref('NangoSecret')),
      ].sort(),
    );
  });

  it('apply: consume patches (incl. ChangeMessageVisibility), send to patches-dlq, read the secret; nothing else', () => {
    expect(grants('ApplyRole')).toEqual(
      [
        line(logsWrite, arn('ApplyLogs')),
        line(xray, '*'),
        line(consume, arn('Patches')),
        line(send, arn('PatchesDlq')),
        line('secretsmanager:GetSecretValue', ref('NangoSecret')),
      ].sort(),
    );
  });
});

describe('secret', () => {
  it('creates an empty placeholder: no value and no generated value in the template', () => {
    const p = resource(t, 'AWS::SecretsManager::Secret', ids.NangoSecret!).Properties;
    expect(p.SecretString).toBeUndefined();
    expect(p.GenerateSecretString).toBeUndefined();
    expect(p.Description).toMatch(/put-secret-value/);
  });
});

describe('EventBridge rule', () => {
  it('listens on the default bus with a pattern pairing exactly the catalog sources and detail-types', () => {
    const p = resource(t, 'AWS::Events::Rule', ids.Rule!).Properties;
    expect(p.EventBusName).toBe('default');
    expect(p.State).toBe('ENABLED');
    const expected = catalog.map((e) => `${e.source} ${e.detailType}`).sort();
    expect(patternPairs(p.EventPattern as CatalogEventPattern)).toEqual(expected);
    // The catalog has two sources: a plain source x detail-type list would match pairs nobody emits.
    expect(Object.keys(p.EventPattern)).toEqual(['$or']);
  });

  it('targets the ingress queue with retries and the ingress DLQ as the target DLQ', () => {
    const p = resource(t, 'AWS::Events::Rule', ids.Rule!).Properties;
    expect(p.Targets).toHaveLength(1);
    expect(p.Targets[0]).toMatchObject({
      Arn: arn('Ingress'),
      DeadLetterConfig: { Arn: arn('IngressDlq') },
      RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
    });
    expect(p.Targets[0].SqsParameters).toBeUndefined();
  });

  it('only this rule may send to the ingress queue and, on failure, to the ingress DLQ', () => {
    for (const q of ['Ingress', 'IngressDlq']) {
      t.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [ref(q)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: Match.anyValue(),
              Condition: { ArnEquals: { 'aws:SourceArn': arn('Rule') } },
            }),
          ]),
        },
      });
    }
  });
});

describe('alarms, topic, dashboard', () => {
  it('an encrypted topic (rotating customer key CloudWatch may use), SSL enforced, no subscription', () => {
    expect(resource(t, 'AWS::SNS::Topic', ids.AlarmTopic!).Properties.KmsMasterKeyId).toEqual(arn('AlarmTopicKey'));
    const key = resource(t, 'AWS::KMS::Key', ids.AlarmTopicKey!).Properties;
    expect(key.EnableKeyRotation).toBe(true);
    expect(key.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
    );
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [ref('AlarmTopic')],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish' }),
        ]),
      },
    });
    t.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('eight alarms, each notifying the topic on ALARM and OK', () => {
    const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')) as any[];
    expect(alarms).toHaveLength(8);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([ref('AlarmTopic')]);
      expect(a.Properties.OKActions).toEqual([ref('AlarmTopic')]);
      expect(a.Properties.TreatMissingData).toBe('notBreaching');
    }
  });

  it('each DLQ alarms when not empty', () => {
    for (const q of ['IngressDlq', 'PatchesDlq']) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids[q], 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
  });

  it('ingress oldest message over 10 minutes, patches over 1 hour', () => {
    for (const [q, threshold] of [
      ['Ingress', 600],
      ['Patches', 3600],
    ] as const) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids[q], 'QueueName'] } }],
        Threshold: threshold,
      });
    }
  });

  it('errors and throttles of each function', () => {
    for (const fn of ['Route', 'Apply']) {
      for (const metric of ['Errors', 'Throttles']) {
        t.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: ref(fn) }],
          Statistic: 'Sum',
          Period: 300,
          Threshold: 1,
        });
      }
    }
  });

  it('a dashboard with queue, function and the functions’ own metrics', () => {
    const dashboards = Object.values(t.findResources('AWS::CloudWatch::Dashboard')) as any[];
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0].Properties.DashboardName).toBeUndefined();
    const body = JSON.stringify(dashboards[0].Properties.DashboardBody);
    for (const s of [
      'ApproximateNumberOfMessagesVisible',
      'ApproximateAgeOfOldestMessage',
      'Throttles',
      'PatchesApplied',
      'NangoLatency',
      'NangoMetadataSync',
    ]) {
      expect(body).toContain(s);
    }
  });
});
