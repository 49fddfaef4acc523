/** Props validation: every bad prop is refused with an error naming it; all problems are reported at once. */
import { describe, expect, it } from 'vitest';
import { Duration, Stack } from 'aws-cdk-lib';
import * as sm from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as z from 'zod';
import { type Catalog, catalog as samples } from '../../events/catalog.ts';
import { defineEvent } from '../../events/define.ts';
import { DEFAULTS, NangoMetadataSync, type NangoMetadataSyncProps, resolveProps } from '../../infra/construct/index.ts';
import { PropsError } from '../../infra/validate.ts';
import { newApp, SAMPLE_CATALOG } from './helpers.ts';

/** Props as a test gives them: the catalog as its entries (the module's loading is tested with the construct). */
type TestProps = Omit<NangoMetadataSyncProps, 'catalog'> & { catalog?: Catalog };

const problemsOf = ({ catalog = samples, ...props }: TestProps): string[] => {
  try {
    resolveProps({ ...props, catalog: SAMPLE_CATALOG }, catalog);
  } catch (e) {
    if (e instanceof PropsError) return e.problems;
    throw e;
  }
  return [];
};

/** An entry that differs only by source and detail-type (the construct checks every entry as defineEvent does). */
const event = (source: string, detailType: string) =>
  defineEvent({
    source,
    detailType,
    description: 't',
    detail: z.object({ id: z.string() }),
    subject: { by: 'connectionId', connectionId: (d) => d.id, integrations: 'all' },
    keys: ['k'],
    patch: () => ({ k: 1 }),
  }) as unknown as Catalog[number];

const cases: [string, TestProps, RegExp][] = [
  ['nangoHost not a URL', { nangoHost: 'nango.example.com' }, /^nangoHost must be an http\(s\) URL/],
  [
    'nangoHost with credentials',
    { nangoHost: 'https://user:pw@nango.example.com' },
    /^nangoHost must be an http\(s\) URL without credentials/,
  ],
  ['nangoEndpoint unknown', { nangoEndpoint: 'v2' as never }, /^nangoEndpoint must be one of current, legacy \(got "v2"\)/],
  ['secretId malformed', { secretId: 'has spaces in it' }, /^secretId must be a Secrets Manager secret name or ARN/],
  ['webhookSecretId malformed', { webhookSecretId: 'has spaces' }, /^webhookSecretId must be a Secrets Manager secret name or ARN/],
  ['nangoTimeout too small', { nangoTimeout: Duration.millis(50) }, /^nangoTimeout must be at least 100 milliseconds/],
  [
    'bundling with a step esbuild cannot take',
    { bundling: { nodeModules: ['sharp'], commandHooks: undefined } },
    /^bundling: nodeModules not supported\. .*; supported: minify, sourceMap,/,
  ],
  [
    "bundling with a banner that declares require (the construct's does)",
    { bundling: { banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" } },
    /^bundling\.banner must not declare require/,
  ],
  [
    'bundling: a source map mode without source maps',
    { bundling: { sourceMap: false, sourceMapMode: 'inline' as never } },
    /^bundling\.sourceMapMode needs source maps/,
  ],
  ['bundling to CommonJS', { bundling: { format: 'cjs' as never } }, /^bundling\.format must be "esm" \(got "cjs"\)/],
  [
    'nangoTimeout not under route timeout',
    { nangoTimeout: Duration.seconds(30) },
    /^nangoTimeout \(30 seconds\) must be shorter than route.timeout/,
  ],
  [
    'nangoTimeout not under reconcile timeout',
    { nangoTimeout: Duration.seconds(20), route: { timeout: Duration.seconds(25) }, reconcile: { timeout: Duration.seconds(20) } },
    /^nangoTimeout \(20 seconds\) must be shorter than reconcile.timeout/,
  ],
  [
    'nangoRateLimitWindow out of the schema range',
    { nangoRateLimitWindow: Duration.millis(500) },
    /^nangoRateLimitWindow \(NANGO_RATE_LIMIT_WINDOW_MS\) is invalid: .* \(got 500\)/,
  ],
  ['secretCacheTtl too long', { secretCacheTtl: Duration.days(2) }, /^secretCacheTtl must be whole seconds from 0 to 86400/],
  ['empty catalog', { catalog: [] }, /^catalog must hold at least one event type/],
  [
    'catalog entry spread past defineEvent with an upper-case tag key',
    { catalog: [{ ...samples[0]!, subject: { ...samples[0]!.subject, tagKeys: ['Organization_Id'] } } as Catalog[number]] },
    /^catalog: defineEvent customer.plan_changed: tagKeys must be/,
  ],
  ['duplicate catalog entry', { catalog: [event('a.b', 'x'), event('a.b', 'x')] }, /^catalog: .*duplicate event type a.b \/ x/],
  [
    'catalog too large for one rule pattern',
    { catalog: Array.from({ length: 150 }, (_, i) => event(`app.source-${i}`, `thing.happened_${i}`)) },
    /^catalog: the rule pattern would be \d+ characters, over EventBridge's 4096/,
  ],
  ['rule retries', { rule: { retryAttempts: 186 } }, /^rule.retryAttempts must be an integer from 0 to 185 \(got 186\)/],
  ['rule age', { rule: { maxEventAge: Duration.hours(25) } }, /^rule.maxEventAge must be whole seconds from 60 to 86400/],
  ['route timeout', { route: { timeout: Duration.minutes(16) } }, /^route.timeout must be whole seconds from 1 to 900/],
  ['route memory', { route: { memorySize: 64 } }, /^route.memorySize must be an integer from 128 to 10240/],
  [
    'route batch',
    // With a window, so that Lambda's rule for batches above 10 is not a second problem.
    { route: { batchSize: 10_001, maxBatchingWindow: Duration.seconds(1) } },
    /^route.batchSize must be an integer from 1 to 10000/,
  ],
  ['route window', { route: { maxBatchingWindow: Duration.minutes(6) } }, /^route.maxBatchingWindow must be whole seconds from 0 to 300/],
  [
    'route batch > 10 without window',
    { route: { batchSize: 20, maxBatchingWindow: Duration.seconds(0) } },
    /^route.maxBatchingWindow must be at least 1 second when route.batchSize is above 10/,
  ],
  [
    'route batch > 10 with the default window (none)',
    { route: { batchSize: 50 } },
    /^route.maxBatchingWindow must be at least 1 second when route.batchSize is above 10 \(got batchSize 50, window 0 s\): set both/,
  ],
  ['route concurrency', { route: { maxConcurrency: 1 } }, /^route.maxConcurrency must be an integer from 2 to 1000 \(got 1\)/],
  ['route index TTL', { route: { indexTtl: Duration.days(2) } }, /^route.indexTtl must be whole seconds from 0 to 86400/],
  ['route empty index TTL', { route: { indexEmptyTtl: Duration.hours(2) } }, /^route.indexEmptyTtl must be whole seconds from 0 to 3600/],
  ['route future skew', { route: { maxFutureSkew: Duration.days(2) } }, /^route.maxFutureSkew must be whole seconds from 0 to 86400/],
  [
    'route connections per subject (schema range)',
    { route: { maxConnectionsPerSubject: 0 } },
    /^route.maxConnectionsPerSubject \(MAX_CONNECTIONS_PER_SUBJECT\) is invalid: .*\(got 0\)/,
  ],
  [
    'route integrations per event (schema range)',
    { route: { maxIntegrationsPerEvent: 1001 } },
    /^route.maxIntegrationsPerEvent \(MAX_INTEGRATIONS_PER_EVENT\) is invalid/,
  ],
  ['apply batch above FIFO limit', { apply: { batchSize: 11 } }, /^apply.batchSize must be an integer from 1 to 10 \(got 11\)/],
  ['apply concurrency', { apply: { maxConcurrency: 1001 } }, /^apply.maxConcurrency must be an integer from 2 to 1000/],
  ['apply group concurrency', { apply: { groupConcurrency: 0 } }, /^apply.groupConcurrency \(APPLY_GROUP_CONCURRENCY\) is invalid/],
  ['apply timeout fractional', { apply: { timeout: Duration.millis(61_500) } }, /^apply.timeout must be whole seconds/],
  [
    'webhook reserved concurrency',
    { webhook: { reservedConcurrency: 0 } },
    /^webhook.reservedConcurrency must be an integer from 1 to 1000/,
  ],
  [
    'webhook timeout over Nango’s',
    { webhook: { timeout: Duration.seconds(20) } },
    /^webhook.timeout must be under Nango's 20 second webhook timeout/,
  ],
  ['webhook body limit', { webhook: { maxBodyBytes: 100 } }, /^webhook.maxBodyBytes \(WEBHOOK_MAX_BODY_BYTES\) is invalid/],
  ['webhook memory', { webhook: { memorySize: 100 } }, /^webhook.memorySize must be an integer from 128 to 10240/],
  [
    'reconcile schedule',
    { reconcile: { schedule: 'every day' } },
    /^reconcile.schedule must be an EventBridge rate\(...\) or cron\(...\) expression, or false/,
  ],
  ['reconcile schedule true', { reconcile: { schedule: true as never } }, /^reconcile.schedule must be/],
  ['reconcile timeout', { reconcile: { timeout: Duration.minutes(20) } }, /^reconcile.timeout must be whole seconds from 1 to 900/],
  [
    'ingress visibility under 6x',
    { ingressQueue: { visibilityTimeout: Duration.seconds(179) } },
    /^ingressQueue.visibilityTimeout must be at least route.timeout x 6 \+ route.maxBatchingWindow = 180 seconds \(got 2 minutes 59 seconds\)/,
  ],
  [
    'ingress visibility under 6x plus the window',
    { route: { maxBatchingWindow: Duration.seconds(1) }, ingressQueue: { visibilityTimeout: Duration.seconds(180) } },
    /^ingressQueue.visibilityTimeout must be at least route.timeout x 6 \+ route.maxBatchingWindow = 181 seconds \(got 3 minutes\)/,
  ],
  [
    'sync visibility under 6x',
    { apply: { timeout: Duration.seconds(100) }, syncQueue: { visibilityTimeout: Duration.seconds(360) } },
    /^syncQueue.visibilityTimeout must be at least apply.timeout x 6 = 600 seconds/,
  ],
  [
    'queue retention',
    { ingressQueue: { retentionPeriod: Duration.seconds(30) } },
    /^ingressQueue.retentionPeriod must be whole seconds from 60 to 1209600/,
  ],
  ['maxReceiveCount', { syncQueue: { maxReceiveCount: 0 } }, /^syncQueue.maxReceiveCount must be an integer from 1 to 1000/],
  [
    'delivery delay',
    { syncQueue: { deliveryDelay: Duration.minutes(16) } },
    /^syncQueue.deliveryDelay must be whole seconds from 0 to 900/,
  ],
  ['apply deferral', { apply: { maxDefer: Duration.minutes(20) } }, /^apply.maxDefer must be whole seconds from 0 to 900/],
  [
    'DLQ retention not longer than source',
    { syncQueue: { retentionPeriod: Duration.days(14) } },
    /^dlqRetentionPeriod \(14 days\) must be longer than syncQueue.retentionPeriod \(14 days\)/,
  ],
  [
    "DLQ retention not longer than the sweep queue's",
    {
      dlqRetentionPeriod: Duration.hours(12),
      ingressQueue: { retentionPeriod: Duration.hours(1) },
      syncQueue: { retentionPeriod: Duration.hours(1) },
      alarms: { dlqOldestMessageAge: Duration.hours(6) },
    },
    /^dlqRetentionPeriod \(12 hours\) must be longer than the sweep queue's retention \(1 day\)/,
  ],
  ['table name', { table: { tableName: 'no spaces allowed' } }, /^table.tableName must be 3-255 letters/],
  ['logLevel', { logLevel: 'TRACE' as never }, /^logLevel must be one of DEBUG, INFO, WARN, ERROR/],
  ['serviceName', { serviceName: 'has space' }, /^serviceName must be 1-100 letters/],
  [
    'metricsNamespace AWS/',
    { metricsNamespace: 'AWS/Lambda' },
    /^metricsNamespace must be a CloudWatch namespace not starting with "AWS\/"/,
  ],
  ['alarm email', { alarms: { email: 'not-an-address' } }, /^alarms.email must be an e-mail address/],
  [
    'alarm age',
    { alarms: { ingressOldestMessageAge: Duration.seconds(30) } },
    /^alarms.ingressOldestMessageAge must be whole seconds from 60/,
  ],
  [
    'DLQ age alarm not before expiry',
    { alarms: { dlqOldestMessageAge: Duration.days(14) } },
    /^alarms.dlqOldestMessageAge \(14 days\) must be shorter than dlqRetentionPeriod \(14 days\)/,
  ],
  ['dashboardName', { dashboardName: 'bad name!' }, /^dashboardName must be 1-255 letters, digits/],
];

describe('props validation', () => {
  it.each(cases)('%s', (_name, props, message) => {
    const problems = problemsOf(props);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('secret and secretId, webhookSecret and webhookSecretId together are refused', () => {
    const stack = new Stack(newApp(), 'T');
    const secret = sm.Secret.fromSecretNameV2(stack, 'S', 'x');
    expect(problemsOf({ secret, secretId: 'y', webhookSecret: secret, webhookSecretId: 'z' })).toEqual([
      'give at most one of secret, secretId (got secret and secretId)',
      'give at most one of webhookSecret, webhookSecretId (got webhookSecret and webhookSecretId)',
    ]);
  });

  it('alarms.email and alarms.topic together are refused', () => {
    const stack = new Stack(newApp(), 'T');
    const topic = sns.Topic.fromTopicArn(stack, 'S', 'arn:aws:sns:eu-west-1:123456789012:ops');
    expect(problemsOf({ alarms: { topic, email: 'a@example.com' } })).toEqual([
      'give at most one of alarms.email, alarms.topic (got alarms.email and alarms.topic)',
    ]);
  });

  it('reports every problem in one error, and the construct throws it before creating anything', () => {
    const stack = new Stack(newApp(), 'T');
    let error: unknown;
    try {
      new NangoMetadataSync(stack, 'Sync', {
        catalog: SAMPLE_CATALOG,
        nangoEndpoint: 'x' as never,
        apply: { batchSize: 20 },
        alarms: { email: 'nope' },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PropsError);
    expect((error as PropsError).problems).toHaveLength(3);
    expect((error as Error).message).toMatch(
      /^NangoMetadataSync: invalid props:\n {2}- nangoEndpoint[\s\S]*\n {2}- apply.batchSize[\s\S]*\n {2}- alarms.email/,
    );
    expect(stack.node.findAll().filter((c) => c !== stack && c.node.path.startsWith('T/Sync/'))).toEqual([]);
  });

  it('the defaults pass, and so do valid edge values', () => {
    expect(problemsOf({})).toEqual([]);
    expect(
      problemsOf({
        nangoHost: 'http://127.0.0.1:3003',
        route: { batchSize: 10, maxBatchingWindow: Duration.seconds(0), maxConcurrency: 2, maxConnectionsPerSubject: 500 },
        apply: { batchSize: 1, maxConcurrency: 1000, timeout: Duration.seconds(900), groupConcurrency: 100 },
        webhook: { timeout: Duration.seconds(19), reservedConcurrency: 1 },
        reconcile: { schedule: false },
        syncQueue: { visibilityTimeout: Duration.seconds(5400) },
        secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango-AbC123',
        webhookSecretId: 'prod/nango-webhook',
        alarms: { dlqOldestMessageAge: Duration.days(13) },
      }),
    ).toEqual([]);
    expect(problemsOf({ reconcile: { schedule: 'cron(0 3 * * ? *)' } })).toEqual([]);
  });

  it('function-setting defaults come from the functions’ configuration module', () => {
    const r = resolveProps({ catalog: SAMPLE_CATALOG });
    expect(r.route.maxConnectionsPerSubject).toBe(100);
    expect(r.route.indexTtl.toSeconds()).toBe(300);
    expect(r.apply.groupConcurrency).toBe(8);
    expect(r.apply.maxDefer.toSeconds()).toBe(60);
    expect(r.sync.deliveryDelay.toSeconds()).toBe(0);
    expect(r.nangoTimeout.toMilliseconds()).toBe(10_000);
    expect(DEFAULTS.reconcile.schedule).toBe('rate(1 day)');
    expect(DEFAULTS.table.deletionProtection).toBe(true);
  });
});

describe('bundling prop', () => {
  it("takes esbuild's own options and `forceDockerBundling: false` (bundling is local anyway); refuses Docker", () => {
    expect(problemsOf({ bundling: { minify: false, forceDockerBundling: false, externalModules: ['@aws-sdk/*'] } })).toEqual([]);
    expect(problemsOf({ bundling: { forceDockerBundling: true } })).toEqual([
      expect.stringMatching(/^bundling: forceDockerBundling not supported/),
    ]);
  });
});
