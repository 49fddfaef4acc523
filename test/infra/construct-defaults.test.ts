/**
 * NangoMetadataSync with no props: every default, asserted on the synthesized template.
 * Bundling is skipped (context aws:cdk:bundling-stacks = []); the bundle test covers the code.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { catalog } from '../../events/catalog.ts';
import { FUNCTION_SETTINGS, type FunctionName, SETTINGS } from '../../functions/commons/config.ts';
import { patternPairs, type CatalogEventPattern } from '../../infra/event-pattern.ts';
import { resource, synthConstruct } from './helpers.ts';

let t: Template;
const ids: Record<string, string> = {};
const NAMES = [
  ['Ingress', 'AWS::SQS::Queue'],
  ['IngressDlq', 'AWS::SQS::Queue'],
  ['SyncQueue', 'AWS::SQS::Queue'],
  ['SyncDlq', 'AWS::SQS::Queue'],
  ['SweepQueue', 'AWS::SQS::Queue'],
  ['SweepDlq', 'AWS::SQS::Queue'],
  ['StateTable', 'AWS::DynamoDB::Table'],
  ['Route', 'AWS::Lambda::Function'],
  ['Apply', 'AWS::Lambda::Function'],
  ['Webhook', 'AWS::Lambda::Function'],
  ['Reconcile', 'AWS::Lambda::Function'],
  ['RouteRole', 'AWS::IAM::Role'],
  ['ApplyRole', 'AWS::IAM::Role'],
  ['WebhookRole', 'AWS::IAM::Role'],
  ['ReconcileRole', 'AWS::IAM::Role'],
  ['RouteLogs', 'AWS::Logs::LogGroup'],
  ['ApplyLogs', 'AWS::Logs::LogGroup'],
  ['WebhookLogs', 'AWS::Logs::LogGroup'],
  ['ReconcileLogs', 'AWS::Logs::LogGroup'],
  ['NangoSecret', 'AWS::SecretsManager::Secret'],
  ['WebhookSecret', 'AWS::SecretsManager::Secret'],
  ['AlarmTopic', 'AWS::SNS::Topic'],
  ['AlarmTopicKey', 'AWS::KMS::Key'],
  ['Rule', 'AWS::Events::Rule'],
  ['ReconcileSchedule', 'AWS::Events::Rule'],
  ['WebhookFunctionUrl', 'AWS::Lambda::Url'],
] as const;

beforeAll(() => {
  t = synthConstruct().template;
  for (const [name, type] of NAMES) {
    // Logical ids are Sync<Name><hash>; "Ingress" must not pick "IngressDlq".
    const all = Object.keys(t.findResources(type)).filter((id) => new RegExp(`^Sync${name}[0-9A-F]{8}$`).test(id));
    expect(all, `${type} ${name}`).toHaveLength(1);
    ids[name] = all[0]!;
  }
});

const arn = (name: string) => ({ 'Fn::GetAtt': [ids[name], 'Arn'] });
const ref = (name: string) => ({ Ref: ids[name] });
const raw = (type: string, name: string) => t.toJSON().Resources[ids[name]!] as { Properties: any; DeletionPolicy?: string };

/** A role's policy statements as "action,action -> resource" lines, so an extra grant shows up as a diff. */
function grants(roleName: string): string[] {
  const policies = Object.values(t.findResources('AWS::IAM::Policy')).filter((p: any) =>
    p.Properties.Roles.some((r: any) => r.Ref === ids[roleName]),
  );
  return policies
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement)
    .flatMap((s: any) => {
      expect(s.Effect).toBe('Allow');
      const actions = [s.Action].flat().sort().join(',');
      const leading = s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'];
      const only = leading ? ` if pk like ${[leading].flat().join('|')}` : s.Condition ? ` if ${JSON.stringify(s.Condition)}` : '';
      return [s.Resource].flat().map((r: any) => `${actions} -> ${JSON.stringify(r)}${only}`);
    })
    .sort();
}

describe('the whole template', () => {
  it('holds exactly these resources: nothing added by accident', () => {
    const counts: Record<string, number> = {};
    for (const r of Object.values(t.toJSON().Resources) as { Type: string }[]) counts[r.Type] = (counts[r.Type] ?? 0) + 1;
    expect(counts).toEqual({
      'AWS::SQS::Queue': 6,
      'AWS::SQS::QueuePolicy': 6,
      'AWS::DynamoDB::Table': 1,
      'AWS::SecretsManager::Secret': 2,
      'AWS::IAM::Role': 4,
      'AWS::IAM::Policy': 4,
      'AWS::Logs::LogGroup': 4,
      'AWS::Lambda::Function': 4,
      'AWS::Lambda::EventSourceMapping': 3,
      'AWS::Lambda::Url': 1,
      // Reconcile's async invoke config: no Lambda retries.
      'AWS::Lambda::EventInvokeConfig': 1,
      // The function URL's two (InvokeFunctionUrl, InvokeFunction via the URL) and the two schedules'.
      'AWS::Lambda::Permission': 4,
      'AWS::Events::Rule': 3,
      'AWS::KMS::Key': 1,
      'AWS::SNS::Topic': 1,
      'AWS::SNS::TopicPolicy': 1,
      'AWS::CloudWatch::Alarm': 25,
      'AWS::CloudWatch::Dashboard': 1,
    });
  });
});

describe('queues', () => {
  it('creates exactly six queues (the sweep has its own and a DLQ), all SQS-managed SSE', () => {
    t.resourceCountIs('AWS::SQS::Queue', 6);
    for (const q of ['Ingress', 'IngressDlq', 'SyncQueue', 'SyncDlq', 'SweepQueue', 'SweepDlq']) {
      expect(resource(t, 'AWS::SQS::Queue', ids[q]!).Properties.SqsManagedSseEnabled).toBe(true);
    }
  });

  it('ingress is standard, 4 days, visibility 6 x 30 s (no batching window), no delivery delay, redrive to ingress-dlq after 5 receives', () => {
    const p = resource(t, 'AWS::SQS::Queue', ids.Ingress!).Properties;
    expect(p.FifoQueue).toBeUndefined();
    expect(p.DelaySeconds ?? 0).toBe(0);
    expect(p.MessageRetentionPeriod).toBe(345_600);
    expect(p.VisibilityTimeout).toBe(180);
    expect(p.RedrivePolicy).toEqual({ deadLetterTargetArn: arn('IngressDlq'), maxReceiveCount: 5 });
  });

  it('sync.fifo is high-throughput FIFO without content-based deduplication, visibility 6 x 90 s, no delivery delay, redrive after 5', () => {
    const p = resource(t, 'AWS::SQS::Queue', ids.SyncQueue!).Properties;
    expect(p).toMatchObject({
      FifoQueue: true,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      ContentBasedDeduplication: false,
      MessageRetentionPeriod: 345_600,
      VisibilityTimeout: 540,
      DelaySeconds: 0,
      RedrivePolicy: { deadLetterTargetArn: arn('SyncDlq'), maxReceiveCount: 5 },
    });
  });

  it('DLQs keep messages 14 days, longer than their sources; the sync DLQ is high-throughput FIFO too', () => {
    const ingressDlq = resource(t, 'AWS::SQS::Queue', ids.IngressDlq!).Properties;
    const syncDlq = resource(t, 'AWS::SQS::Queue', ids.SyncDlq!).Properties;
    expect(ingressDlq.MessageRetentionPeriod).toBe(1_209_600);
    expect(ingressDlq.FifoQueue).toBeUndefined();
    expect(syncDlq).toMatchObject({
      FifoQueue: true,
      MessageRetentionPeriod: 1_209_600,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
    });
    expect(ingressDlq.RedrivePolicy).toBeUndefined();
    expect(syncDlq.RedrivePolicy).toBeUndefined();
  });

  it('the DLQs are retained on stack deletion; the queues of work in flight are not', () => {
    expect(raw('AWS::SQS::Queue', 'IngressDlq').DeletionPolicy).toBe('Retain');
    expect(raw('AWS::SQS::Queue', 'SyncDlq').DeletionPolicy).toBe('Retain');
    expect(raw('AWS::SQS::Queue', 'Ingress').DeletionPolicy).toBe('Delete');
    expect(raw('AWS::SQS::Queue', 'SyncQueue').DeletionPolicy).toBe('Delete');
  });

  it('every queue refuses plain HTTP', () => {
    for (const q of ['Ingress', 'IngressDlq', 'SyncQueue', 'SyncDlq']) {
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

  it('each queue denies SendMessage to everyone but its senders: the functions that write it and the rule', () => {
    const deny = (q: string) => {
      const policy = Object.values(t.findResources('AWS::SQS::QueuePolicy')).find((p: any) => p.Properties.Queues[0].Ref === ids[q]) as any;
      return policy.Properties.PolicyDocument.Statement.find((s: any) => s.Sid === 'OnlyPipelineSenders');
    };
    const roles = (...names: string[]) => names.map(arn);
    for (const [q, senders, viaRule] of [
      ['Ingress', ['ApplyRole'], true],
      ['IngressDlq', ['RouteRole'], true],
      ['SyncQueue', ['RouteRole', 'WebhookRole', 'ReconcileRole'], false],
      ['SyncDlq', ['ApplyRole'], false],
    ] as const) {
      const s = deny(q);
      expect(s, q).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sqs:SendMessage', Resource: arn(q) });
      const expected: Record<string, unknown> = {};
      if (senders.length > 0) expected['aws:PrincipalArn'] = roles(...senders);
      if (viaRule) expected['aws:SourceArn'] = arn('Rule');
      expect(s.Condition, q).toEqual({ ArnNotEquals: expected });
    }
  });
});

describe('state table', () => {
  it('pk/sk strings, on demand, point-in-time recovery, AWS managed KMS key, deletion protection, no index/stream/TTL', () => {
    const p = resource(t, 'AWS::DynamoDB::Table', ids.StateTable!).Properties;
    expect(p.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(p.AttributeDefinitions).toEqual([
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ]);
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    // SSEEnabled without a key or type is KMS with the AWS managed key (aws/dynamodb), not the AWS owned default.
    expect(p.SSESpecification).toEqual({ SSEEnabled: true });
    expect(p.DeletionProtectionEnabled).toBe(true);
    for (const absent of [
      'GlobalSecondaryIndexes',
      'LocalSecondaryIndexes',
      'StreamSpecification',
      'TimeToLiveSpecification',
      'TableName',
    ]) {
      expect(p[absent], absent).toBeUndefined();
    }
  });

  it('is retained on stack deletion', () => {
    expect(raw('AWS::DynamoDB::Table', 'StateTable').DeletionPolicy).toBe('Retain');
  });
});

describe('functions', () => {
  const common = { Runtime: 'nodejs24.x', Architectures: ['arm64'], Handler: 'index.handler' };
  const fnProps = (name: string) => resource(t, 'AWS::Lambda::Function', ids[name]!).Properties;

  it.each([
    ['Route', 30, 512],
    ['Apply', 90, 256],
    ['Webhook', 10, 256],
    ['Reconcile', 300, 512],
  ] as const)('%s: nodejs24.x arm64, %i s, %i MB, own role and log group, no async DLQ', (name, timeout, memory) => {
    const p = fnProps(name);
    expect(p).toMatchObject({
      ...common,
      Timeout: timeout,
      MemorySize: memory,
      Role: arn(`${name}Role`),
      LoggingConfig: { LogGroup: ref(`${name}Logs`) },
    });
    expect(p.DeadLetterConfig).toBeUndefined();
    expect(p.TracingConfig).toBeUndefined(); // X-Ray off unless the `tracing` prop turns it on
  });

  const powertools = {
    POWERTOOLS_SERVICE_NAME: 'nango-metadata-sync',
    POWERTOOLS_METRICS_NAMESPACE: 'NangoMetadataSync',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    NODE_OPTIONS: '--enable-source-maps',
  };
  const digestLogs = { LOG_SUBJECT_IDS: 'false' };
  const nango = {
    NANGO_HOST: 'https://api.nango.dev',
    NANGO_ENDPOINT: 'current',
    NANGO_SECRET_ID: { Ref: 'placeholder' },
    SECRET_CACHE_TTL_SECONDS: '300',
    NANGO_TIMEOUT_MS: '10000',
    NANGO_RATE_LIMIT_WINDOW_MS: '60000',
  };
  const expectedEnv = (): Record<FunctionName, Record<string, unknown>> => ({
    route: {
      ...nango,
      NANGO_SECRET_ID: ref('NangoSecret'),
      STATE_TABLE_NAME: ref('StateTable'),
      SYNC_QUEUE_URL: ref('SyncQueue'),
      // Offered to route by the construct; set only once the route's configuration reads it.
      ...((FUNCTION_SETTINGS.route as readonly string[]).includes('INGRESS_QUEUE_URL') ? { INGRESS_QUEUE_URL: ref('Ingress') } : {}),
      INGRESS_DLQ_URL: ref('IngressDlq'),
      MAX_RECEIVE_COUNT: '5',
      INDEX_TTL_SECONDS: '300',
      INDEX_EMPTY_TTL_SECONDS: '5',
      INDEX_SWEEP_SECONDS: '300',
      MAX_CONNECTIONS_PER_SUBJECT: '100',
      MAX_INTEGRATIONS_PER_EVENT: '25',
      MAX_FUTURE_SKEW_SECONDS: '300',
      ...digestLogs,
      ...powertools,
    },
    apply: {
      ...nango,
      NANGO_SECRET_ID: ref('NangoSecret'),
      STATE_TABLE_NAME: ref('StateTable'),
      SYNC_QUEUE_URL: ref('SyncQueue'),
      SYNC_DLQ_URL: ref('SyncDlq'),
      // A deferral's deadline is sent there, delayed.
      INGRESS_QUEUE_URL: ref('Ingress'),
      MAX_RECEIVE_COUNT: '5',
      APPLY_GROUP_CONCURRENCY: '8',
      APPLY_MAX_DEFER_SECONDS: '60',
      MAX_CONNECTIONS_PER_SUBJECT: '100',
      ...digestLogs,
      ...powertools,
    },
    webhook: {
      SYNC_QUEUE_URL: ref('SyncQueue'),
      WEBHOOK_SECRET_ID: ref('WebhookSecret'),
      WEBHOOK_MAX_BODY_BYTES: '65536',
      // The UUID of the stack's id: drawn by CloudFormation, in no source file.
      WEBHOOK_PATH_TOKEN: { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] },
      // No LOG_SUBJECT_IDS: the webhook names no subject (apply looks the connection up).
      SECRET_CACHE_TTL_SECONDS: '300',
      ...powertools,
    },
    reconcile: {
      ...nango,
      NANGO_SECRET_ID: ref('NangoSecret'),
      STATE_TABLE_NAME: ref('StateTable'),
      SYNC_QUEUE_URL: ref('SyncQueue'),
      SWEEP_QUEUE_URL: ref('SweepQueue'),
      INDEX_SWEEP_SECONDS: '300',
      MAX_CONNECTIONS_PER_SUBJECT: '100',
      ...digestLogs,
      ...powertools,
    },
  });

  /** A prop-backed setting added to the table later is expected at its default; those above stay pinned as written. */
  const tableDefaults = (fn: FunctionName): Record<string, string> =>
    Object.fromEntries(
      FUNCTION_SETTINGS[fn].flatMap((n) => {
        const d = SETTINGS[n].schema.safeParse(undefined).data;
        return 'prop' in SETTINGS[n] && d !== undefined ? [[n, String(d)]] : [];
      }),
    );

  it.each(['route', 'apply', 'webhook', 'reconcile'] as const)('%s environment: exactly the values expected', (fn) => {
    const name = fn[0]!.toUpperCase() + fn.slice(1);
    expect(fnProps(name).Environment.Variables).toEqual({ ...tableDefaults(fn), ...expectedEnv()[fn] });
  });

  it.each(['route', 'apply', 'webhook', 'reconcile'] as const)(
    '%s environment: exactly the variables FUNCTION_SETTINGS lists, never a key itself',
    (fn) => {
      const name = fn[0]!.toUpperCase() + fn.slice(1);
      const env = fnProps(name).Environment.Variables as Record<string, unknown>;
      const own = Object.keys(env).filter((k) => !k.startsWith('POWERTOOLS_') && k !== 'NODE_OPTIONS');
      const listed = FUNCTION_SETTINGS[fn].filter((k: string) => k !== 'NANGO_SECRET_KEY' && k !== 'WEBHOOK_SIGNING_KEY');
      expect(own.sort()).toEqual([...listed].sort());
      expect(env).not.toHaveProperty('NANGO_SECRET_KEY');
      expect(env).not.toHaveProperty('WEBHOOK_SIGNING_KEY');
    },
  );

  it('MAX_RECEIVE_COUNT of route and apply equals the redrive maxReceiveCount of the queue each consumes', () => {
    const rc = (q: string) => String(resource(t, 'AWS::SQS::Queue', ids[q]!).Properties.RedrivePolicy.maxReceiveCount);
    expect(fnProps('Route').Environment.Variables.MAX_RECEIVE_COUNT).toBe(rc('Ingress'));
    expect(fnProps('Apply').Environment.Variables.MAX_RECEIVE_COUNT).toBe(rc('SyncQueue'));
  });

  it('log groups keep 30 days and are retained', () => {
    for (const g of ['RouteLogs', 'ApplyLogs', 'WebhookLogs', 'ReconcileLogs']) {
      expect(resource(t, 'AWS::Logs::LogGroup', ids[g]!).Properties.RetentionInDays).toBe(30);
      expect(raw('AWS::Logs::LogGroup', g).DeletionPolicy).toBe('Retain');
    }
  });

  it('event sources: report batch item failures; route 10 records / no window / 10 concurrent; apply 10 / 2 concurrent', () => {
    t.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    // The sweep: one page per invocation.
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref('Reconcile'),
      EventSourceArn: arn('SweepQueue'),
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref('Route'),
      EventSourceArn: arn('Ingress'),
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 0,
      ScalingConfig: { MaximumConcurrency: 10 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref('Apply'),
      EventSourceArn: arn('SyncQueue'),
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: Match.absent(),
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('webhook: a function URL with auth NONE, throttled by 5 reserved concurrent executions', () => {
    expect(resource(t, 'AWS::Lambda::Url', ids.WebhookFunctionUrl!).Properties).toMatchObject({
      AuthType: 'NONE',
      TargetFunctionArn: arn('Webhook'),
    });
    expect(fnProps('Webhook').ReservedConcurrentExecutions).toBe(5);
    for (const f of ['Route', 'Apply', 'Reconcile']) expect(fnProps(f).ReservedConcurrentExecutions).toBeUndefined();
    t.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      FunctionName: arn('Webhook'),
      Principal: '*',
      FunctionUrlAuthType: 'NONE',
    });
    // Public invoke only through the URL: the plain Invoke permission is conditioned on it.
    t.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arn('Webhook'),
      Principal: '*',
      InvokedViaFunctionUrl: true,
    });
  });

  it('reconcile runs daily by default, without EventBridge retries nor Lambda async retries', () => {
    expect(Object.values(t.findResources('AWS::Lambda::EventInvokeConfig')).map((r: any) => r.Properties)).toEqual([
      { FunctionName: ref('Reconcile'), Qualifier: '$LATEST', MaximumRetryAttempts: 0 },
    ]);
    const p = resource(t, 'AWS::Events::Rule', ids.ReconcileSchedule!).Properties;
    expect(p.ScheduleExpression).toBe('rate(1 day)');
    expect(p.State).toBe('ENABLED');
    expect(p.Targets).toEqual([expect.objectContaining({ Arn: arn('Reconcile'), RetryPolicy: { MaximumRetryAttempts: 0 } })]);
    t.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arn('Reconcile'),
      Principal: 'events.amazonaws.com',
      SourceArn: arn('ReconcileSchedule'),
    });
  });
});

describe('IAM: least privilege, one role per function', () => {
  it('roles carry no managed policies (no AWSLambdaBasicExecutionRole)', () => {
    for (const r of ['RouteRole', 'ApplyRole', 'WebhookRole', 'ReconcileRole']) {
      expect(resource(t, 'AWS::IAM::Role', ids[r]!).Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  const consume = 'sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:ReceiveMessage';
  const send = 'sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:SendMessage';
  const logsWrite = 'logs:CreateLogStream,logs:PutLogEvents';
  const line = (actions: string, res: unknown) => `${actions} -> ${JSON.stringify(res)}`;
  const own = (name: string) => [line(logsWrite, arn(`${name}Logs`))];

  const items = (actions: string, prefixes: string) => `${line(actions, arn('StateTable'))} if pk like ${prefixes}`;

  it('route: consume ingress; send to sync.fifo and ingress-dlq; write desired state, read, replace and merge indexes, read the sweep run, note subjects without a connection; the Nango key', () => {
    expect(grants('RouteRole')).toEqual(
      [
        ...own('Route'),
        line(consume, arn('Ingress')),
        line(send, arn('IngressDlq')),
        line(send, arn('SyncQueue')),
        items('dynamodb:GetItem,dynamodb:PutItem', 'S#*'),
        items('dynamodb:GetItem,dynamodb:PutItem,dynamodb:UpdateItem', 'I#*'),
        items('dynamodb:GetItem', 'R#*'),
        items('dynamodb:UpdateItem', 'U#*'),
        line('secretsmanager:GetSecretValue', ref('NangoSecret')),
      ].sort(),
    );
  });

  it('apply: consume sync.fifo (ChangeMessageVisibility for Retry-After); send to sync-dlq and (deadlines) ingress; read desired state; write applied state, membership, index adds and removals; the Nango key', () => {
    expect(grants('ApplyRole')).toEqual(
      [
        ...own('Apply'),
        line(consume, arn('SyncQueue')),
        line(send, arn('SyncDlq')),
        line(send, arn('Ingress')),
        items('dynamodb:Query', 'S#*'),
        items('dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:UpdateItem', 'C#*'),
        items('dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem', 'M#*'),
        items('dynamodb:UpdateItem', 'I#*'),
        line('secretsmanager:GetSecretValue', ref('NangoSecret')),
      ].sort(),
    );
  });

  it('webhook: send to sync.fifo; no table access at all (apply looks the connection up); the webhook signing key only', () => {
    expect(grants('WebhookRole')).toEqual(
      [...own('Webhook'), line(send, arn('SyncQueue')), line('secretsmanager:GetSecretValue', ref('WebhookSecret'))].sort(),
    );
  });

  it('reconcile (the sweep): consume and send its page queue; send to sync.fifo; read desired state; batch-read and write membership; batch-read and update indexes, update its runs; read and forget noted subjects; the Nango key', () => {
    expect(grants('ReconcileRole')).toEqual(
      [
        ...own('Reconcile'),
        // Consumes its page queue and sends the next page to it: one statement.
        line(
          'sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:ReceiveMessage,sqs:SendMessage',
          arn('SweepQueue'),
        ),
        line(send, arn('SyncQueue')),
        items('dynamodb:Query', 'S#*'),
        items('dynamodb:BatchGetItem,dynamodb:PutItem', 'M#*'),
        items('dynamodb:BatchGetItem,dynamodb:UpdateItem', 'I#*'),
        items('dynamodb:GetItem,dynamodb:UpdateItem', 'R#*'),
        items('dynamodb:DeleteItem,dynamodb:Query', 'U#*'),
        line('secretsmanager:GetSecretValue', ref('NangoSecret')),
      ].sort(),
    );
  });
});

describe('secrets', () => {
  it('creates two empty placeholders (Nango key, webhook signing key): no value and no generated value in the template', () => {
    t.resourceCountIs('AWS::SecretsManager::Secret', 2);
    for (const s of ['NangoSecret', 'WebhookSecret']) {
      const p = resource(t, 'AWS::SecretsManager::Secret', ids[s]!).Properties;
      expect(p.SecretString).toBeUndefined();
      expect(p.GenerateSecretString).toBeUndefined();
      expect(p.Description).toMatch(/put-secret-value/);
    }
  });
});

describe('EventBridge rule', () => {
  it('listens on the default bus with a pattern pairing exactly the catalog sources and detail-types', () => {
    const p = resource(t, 'AWS::Events::Rule', ids.Rule!).Properties;
    expect(p.EventBusName).toBe('default');
    expect(p.State).toBe('ENABLED');
    const expected = catalog.map((e) => `${e.source} ${e.detailType}`).sort();
    expect(patternPairs(p.EventPattern as CatalogEventPattern)).toEqual(expected);
  });

  it('targets the ingress queue with retries and the ingress DLQ as the target DLQ', () => {
    const p = resource(t, 'AWS::Events::Rule', ids.Rule!).Properties;
    expect(p.Targets).toHaveLength(1);
    expect(p.Targets[0]).toMatchObject({
      Arn: arn('Ingress'),
      DeadLetterConfig: { Arn: arn('IngressDlq') },
      RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
    });
  });

  it('the rule is allowed to send to the ingress queue and its DLQ, by aws:SourceArn', () => {
    for (const q of ['Ingress', 'IngressDlq']) {
      t.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [ref(q)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Condition: { ArnEquals: { 'aws:SourceArn': arn('Rule') } },
            }),
          ]),
        },
      });
    }
  });
});

describe('alarm topic', () => {
  it('encrypted with a rotating customer key that CloudWatch may use only for this account’s alarms', () => {
    expect(resource(t, 'AWS::SNS::Topic', ids.AlarmTopic!).Properties.KmsMasterKeyId).toEqual(arn('AlarmTopicKey'));
    const key = resource(t, 'AWS::KMS::Key', ids.AlarmTopicKey!).Properties;
    expect(key.EnableKeyRotation).toBe(true);
    const services = key.KeyPolicy.Statement.filter((s: any) => s.Principal?.Service);
    expect(services).toHaveLength(1);
    expect(services[0]).toMatchObject({
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Condition: {
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        ArnLike: { 'aws:SourceArn': expect.anything() },
      },
    });
    expect(JSON.stringify(services[0].Condition.ArnLike)).toContain(':alarm:*');
  });

  it('SSL enforced; CloudWatch may publish, for this account only; no subscription by default', () => {
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [ref('AlarmTopic')],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }),
          }),
        ]),
      },
    });
    t.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('alarms', () => {
  const alarms = () => t.findResources('AWS::CloudWatch::Alarm') as Record<string, { Properties: any }>;
  const byId = (name: string) => {
    const found = Object.entries(alarms()).filter(([id]) => new RegExp(`^Sync${name}[0-9A-F]{8}$`).test(id));
    expect(found, name).toHaveLength(1);
    return found[0]![1].Properties;
  };

  it('25 alarms (6 DLQ, 2 queue age, 8 function, 2 webhook URL, 4 own metrics, 1 schedule, 2 sweep), each notifying the topic, missing data not breaching', () => {
    expect(Object.keys(alarms())).toHaveLength(25);
    for (const a of Object.values(alarms())) {
      expect(a.Properties.AlarmActions).toEqual([ref('AlarmTopic')]);
      expect(a.Properties.TreatMissingData).toBe('notBreaching');
    }
  });

  it('each DLQ: messages sent in a 5-minute period (Sum > 0), so every new failure period notifies again', () => {
    for (const q of ['IngressDlq', 'SyncDlq']) {
      expect(byId(`${q}MessagesSent`)).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'NumberOfMessagesSent',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids[q], 'QueueName'] } }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      expect(byId(`${q}MessagesSent`).OKActions).toBeUndefined();
    }
  });

  it('each DLQ: growth of its depth (DIFF > 0), for messages moved by the redrive policy', () => {
    for (const q of ['IngressDlq', 'SyncDlq']) {
      const a = byId(`${q}Growing`);
      expect(a).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
      const expr = a.Metrics.find((m: any) => m.Expression);
      expect(expr.Expression).toBe('DIFF(visible)');
      const visible = a.Metrics.find((m: any) => m.Id === 'visible');
      expect(visible.MetricStat).toMatchObject({
        Metric: { Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible' },
        Period: 300,
        Stat: 'Maximum',
      });
    }
  });

  it('each DLQ: oldest message over 10 of its 14 days, before retention drops it', () => {
    for (const q of ['IngressDlq', 'SyncDlq']) {
      expect(byId(`${q}OldestMessageAge`)).toMatchObject({
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids[q], 'QueueName'] } }],
        Threshold: 864_000,
        OKActions: [ref('AlarmTopic')],
      });
    }
  });

  it('ingress oldest message over 10 minutes, sync over 1 hour', () => {
    expect(byId('IngressOldestMessageAge')).toMatchObject({ MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 600 });
    expect(byId('SyncOldestMessageAge')).toMatchObject({ MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 3600 });
  });

  it('errors and throttles of each of the four functions', () => {
    for (const fn of ['Route', 'Apply', 'Webhook', 'Reconcile']) {
      for (const metric of ['Errors', 'Throttles']) {
        expect(byId(`${fn}${metric}`)).toMatchObject({
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: ref(fn) }],
          Statistic: 'Sum',
          Period: 300,
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
        });
      }
    }
  });

  it('bad signatures alarm on a rate (5 in 5 minutes), not on one probe', () => {
    expect(byId('WebhookSignatureRejected')).toMatchObject({
      Namespace: 'NangoMetadataSync',
      MetricName: 'WebhookSignatureRejected',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 5,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it("the webhook URL's 4xx (100 in each of two 5-minute periods) and 5xx (3 in 5 minutes), counted by Lambda", () => {
    const url = (metric: string) => ({
      Namespace: 'AWS/Lambda',
      MetricName: metric,
      Dimensions: [{ Name: 'FunctionName', Value: ref('Webhook') }],
      Statistic: 'Sum',
      Period: 300,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(byId('WebhookUrl4xx')).toMatchObject({ ...url('Url4xxCount'), Threshold: 100, EvaluationPeriods: 2, DatapointsToAlarm: 2 });
    expect(byId('WebhookUrl4xx').OKActions).toEqual([ref('AlarmTopic')]);
    expect(byId('WebhookUrl5xx')).toMatchObject({ ...url('Url5xxCount'), Threshold: 3, EvaluationPeriods: 1 });
  });

  it("the functions' own metrics: an unreadable signing key, failed seeds, drift found by reconcile", () => {
    for (const name of ['WebhookSigningKeyUnavailable', 'WebhookSeedFailures', 'ReconcileDriftedConnections']) {
      expect(byId(name)).toMatchObject({
        Namespace: 'NangoMetadataSync',
        MetricName: name,
        Dimensions: [{ Name: 'service', Value: 'nango-metadata-sync' }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });

  it('failed schedule invocations of reconcile', () => {
    expect(byId('ReconcileScheduleFailures')).toMatchObject({
      Namespace: 'AWS/Events',
      MetricName: 'FailedInvocations',
      Dimensions: [{ Name: 'RuleName', Value: ref('ReconcileSchedule') }],
      Threshold: 0,
    });
  });
});

describe('dashboard', () => {
  it('queues, DLQs, all four functions, and the v2 metrics', () => {
    const dashboards = Object.values(t.findResources('AWS::CloudWatch::Dashboard')) as any[];
    expect(dashboards).toHaveLength(1);
    expect(dashboards[0].Properties.DashboardName).toBeUndefined();
    const body = JSON.stringify(dashboards[0].Properties.DashboardBody);
    for (const s of [
      'ApproximateNumberOfMessagesVisible',
      'NumberOfMessagesSent',
      'ApproximateAgeOfOldestMessage',
      'Throttles',
      'KeysWritten',
      'SyncsApplied',
      'SyncsDeferred',
      'DeferredWait',
      // Counted with a code (and stage) dimension: found by a search, not by `service` alone.
      "SUM(SEARCH('{NangoMetadataSync,service,code} MetricName=",
      "SUM(SEARCH('{NangoMetadataSync,service,code,stage} MetricName=",
      'WebhookSignatureRejected',
      'ReconcileDriftedConnections',
      'SweepConnectionsListed',
      'SweepRunSeconds',
      'IndexAddsRefused',
      'NangoLatency',
      'NangoMetadataSync',
      ids.Webhook!,
      ids.Reconcile!,
    ]) {
      expect(body).toContain(s);
    }
    expect(body).not.toMatch(/patch/i);
  });
});
