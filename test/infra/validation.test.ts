/** Props validation: every bad prop is refused with an error naming it; all problems are reported at once. */
import { describe, expect, it } from 'vitest';
import { Duration, Stack } from 'aws-cdk-lib';
import * as sm from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { z } from 'zod';
import { defineEvent } from '../../events/define.ts';
import { NangoMetadataSync, resolveProps, type NangoMetadataSyncProps } from '../../infra/nango-metadata-sync.ts';
import { PropsError } from '../../infra/validate.ts';
import { newApp } from './helpers.ts';

const problemsOf = (props: NangoMetadataSyncProps): string[] => {
  try {
    resolveProps(props);
  } catch (e) {
    if (e instanceof PropsError) return e.problems;
    throw e;
  }
  return [];
};

const event = (source: string, detailType: string) =>
  defineEvent({ source, detailType, description: 'x', detail: z.object({}), targets: () => [], patch: () => ({}) });

const cases: [string, NangoMetadataSyncProps, RegExp][] = [
  ['nangoHost not a URL', { nangoHost: 'nango.example.com' }, /^nangoHost must be an http\(s\) URL/],
  [
    'nangoHost with credentials',
    { nangoHost: 'https://user:pw@nango.example.com' },
    /^nangoHost must be an http\(s\) URL without credentials/,
  ],
  ['nangoEndpoint unknown', { nangoEndpoint: 'v2' as never }, /^nangoEndpoint must be one of current, legacy \(got "v2"\)/],
  ['secretId malformed', { secretId: 'has spaces in it' }, /^secretId must be a Secrets Manager secret name or ARN/],
  ['nangoTimeout too small', { nangoTimeout: Duration.millis(50) }, /^nangoTimeout must be at least 100 milliseconds/],
  [
    'nangoTimeout not under route timeout',
    { nangoTimeout: Duration.seconds(30) },
    /^nangoTimeout \(30 seconds\) must be shorter than route.timeout/,
  ],
  ['secretCacheTtl too long', { secretCacheTtl: Duration.days(2) }, /^secretCacheTtl must be whole seconds from 0 to 86400/],
  ['empty catalog', { catalog: [] }, /^catalog must hold at least one event type/],
  ['duplicate catalog entry', { catalog: [event('a.b', 'x'), event('a.b', 'x')] }, /^catalog: catalog: duplicate event type a.b \/ x/],
  [
    'catalog too large for one rule pattern',
    { catalog: Array.from({ length: 150 }, (_, i) => event(`app.source-${i}`, `thing.happened_${i}`)) },
    /^catalog: the rule pattern would be \d+ characters, over EventBridge's 4096/,
  ],
  ['rule retries', { rule: { retryAttempts: 186 } }, /^rule.retryAttempts must be an integer from 0 to 185 \(got 186\)/],
  ['rule age', { rule: { maxEventAge: Duration.hours(25) } }, /^rule.maxEventAge must be whole seconds from 60 to 86400/],
  ['route timeout', { route: { timeout: Duration.minutes(16) } }, /^route.timeout must be whole seconds from 1 to 900/],
  ['route memory', { route: { memorySize: 64 } }, /^route.memorySize must be an integer from 128 to 10240/],
  ['route batch', { route: { batchSize: 10_001 } }, /^route.batchSize must be an integer from 1 to 10000/],
  ['route window', { route: { maxBatchingWindow: Duration.minutes(6) } }, /^route.maxBatchingWindow must be whole seconds from 0 to 300/],
  [
    'route batch > 10 without window',
    { route: { batchSize: 20, maxBatchingWindow: Duration.seconds(0) } },
    /^route.maxBatchingWindow must be at least 1 second when route.batchSize is above 10/,
  ],
  ['route concurrency', { route: { maxConcurrency: 1 } }, /^route.maxConcurrency must be an integer from 2 to 1000 \(got 1\)/],
  ['apply batch above FIFO limit', { apply: { batchSize: 11 } }, /^apply.batchSize must be an integer from 1 to 10 \(got 11\)/],
  ['apply concurrency', { apply: { maxConcurrency: 1001 } }, /^apply.maxConcurrency must be an integer from 2 to 1000/],
  ['apply group concurrency', { apply: { groupConcurrency: 0 } }, /^apply.groupConcurrency must be an integer from 1 to 100/],
  ['apply ordering', { apply: { ordering: 'random' as never } }, /^apply.ordering must be one of event-time, arrival/],
  ['apply timeout fractional', { apply: { timeout: Duration.millis(61_500) } }, /^apply.timeout must be whole seconds/],
  [
    'ingress visibility under 6x',
    { ingressQueue: { visibilityTimeout: Duration.seconds(180) } },
    /^ingressQueue.visibilityTimeout must be at least route.timeout x 6 \+ route.maxBatchingWindow = 181 seconds \(got 3 minutes\)/,
  ],
  [
    'patches visibility under 6x',
    { apply: { timeout: Duration.seconds(100) }, patchesQueue: { visibilityTimeout: Duration.seconds(360) } },
    /^patchesQueue.visibilityTimeout must be at least apply.timeout x 6 = 600 seconds/,
  ],
  ['maxReceiveCount', { patchesQueue: { maxReceiveCount: 0 } }, /^patchesQueue.maxReceiveCount must be an integer from 1 to 1000/],
  [
    'queue retention',
    { ingressQueue: { retentionPeriod: Duration.seconds(30) } },
    /^ingressQueue.retentionPeriod must be whole seconds from 60 to 1209600/,
  ],
  [
    'DLQ retention not longer than source',
    { patchesQueue: { retentionPeriod: Duration.days(14) } },
    /^dlqRetentionPeriod \(14 days\) must be longer than patchesQueue.retentionPeriod \(14 days\)/,
  ],
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
  ['dashboardName', { dashboardName: 'bad name!' }, /^dashboardName must be 1-255 letters, digits/],
];

describe('props validation', () => {
  it.each(cases)('%s', (_name, props, message) => {
    const problems = problemsOf(props);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('secret and secretId together are refused', () => {
    const app = newApp();
    const stack = new Stack(app, 'T');
    const secret = sm.Secret.fromSecretNameV2(stack, 'S', 'x');
    expect(problemsOf({ secret, secretId: 'y' })).toEqual(['give at most one of secret, secretId (got secret and secretId)']);
  });

  it('alarms.email and alarms.topic together are refused', () => {
    const app = newApp();
    const stack = new Stack(app, 'T');
    const topic = sns.Topic.fromTopicArn(stack, 'S', 'arn:aws:sns:eu-west-1:123456789012:ops');
    expect(problemsOf({ alarms: { topic, email: 'a@example.com' } })).toEqual([
      'give at most one of alarms.email, alarms.topic (got alarms.email and alarms.topic)',
    ]);
  });

  it('reports every problem in one error, and the construct throws it before creating anything', () => {
    const app = newApp();
    const stack = new Stack(app, 'T');
    let error: unknown;
    try {
      new NangoMetadataSync(stack, 'Sync', { nangoEndpoint: 'x' as never, apply: { batchSize: 20 }, alarms: { email: 'nope' } });
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

  it('valid edge values pass', () => {
    expect(
      problemsOf({
        nangoHost: 'http://127.0.0.1:3003',
        route: { batchSize: 10, maxBatchingWindow: Duration.seconds(0), maxConcurrency: 2 },
        apply: { batchSize: 1, maxConcurrency: 1000, timeout: Duration.seconds(900) },
        patchesQueue: { visibilityTimeout: Duration.seconds(5400) },
        secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango-AbC123',
      }),
    ).toEqual([]);
  });
});
