/**
 * Alarms and where they go. DLQ alarms fire per period in which something arrived (not on "not
 * empty", which stays in ALARM after the first failure so later ones notify nobody, and which a read
 * by the DLQ tool flips to OK), and again before a parked message would expire.
 */
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { MetricName } from '#powertools/metrics';
import type { Resolved } from './validate-props.ts';

const FIVE_MINUTES = Duration.minutes(5);

/** A metric the functions emit (EMF), by name, with the `service` dimension Powertools adds. */
export function customMetric(cfg: Resolved, metricName: string, statistic: string = cw.Stats.SUM, period = FIVE_MINUTES): cw.Metric {
  return new cw.Metric({ namespace: cfg.metricsNamespace, metricName, dimensionsMap: { service: cfg.serviceName }, statistic, period });
}

export function createAlarmTopic(scope: Construct, email: string | undefined): sns.Topic {
  // CloudWatch must encrypt with the topic's key, which an AWS managed key (aws/sns) does not allow.
  const key = new kms.Key(scope, 'AlarmTopicKey', { enableKeyRotation: true, description: 'Encrypts the nango-metadata-sync alarm topic' });
  const stack = Stack.of(scope);
  // Only on behalf of this account's alarms (confused deputy): CloudWatch sets both keys on its KMS calls.
  const fromOurAlarms = {
    StringEquals: { 'aws:SourceAccount': stack.account },
    ArnLike: {
      'aws:SourceArn': stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: '*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    },
  };
  const cloudwatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [cloudwatch],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: fromOurAlarms,
    }),
  );
  const topic = new sns.Topic(scope, 'AlarmTopic', { displayName: 'nango-metadata-sync alarms', masterKey: key, enforceSSL: true });
  // enforceSSL writes a topic policy, which replaces SNS's default one: allow CloudWatch explicitly.
  topic.addToResourcePolicy(
    new iam.PolicyStatement({ principals: [cloudwatch], actions: ['sns:Publish'], resources: [topic.topicArn], conditions: fromOurAlarms }),
  );
  if (email) {
    topic.addSubscription(new subs.EmailSubscription(email));
    const subscription = topic.node.children.find((c) => c instanceof sns.Subscription);
    if (subscription) {
      Validations.of(subscription).acknowledge({
        id: 'Serverless-SNSRedrivePolicy',
        reason:
          'An e-mail subscription for alarm notifications: an undelivered alarm e-mail has nothing to replay, and the alarm state and history stay in CloudWatch.',
      });
    }
  }
  return topic;
}

export interface MonitoredParts {
  readonly topic: sns.ITopic;
  readonly ingress: sqs.IQueue;
  readonly ingressDlq: sqs.IQueue;
  readonly sync: sqs.IQueue;
  readonly syncDlq: sqs.IQueue;
  readonly functions: Readonly<Record<'Route' | 'Apply' | 'Webhook' | 'Reconcile', lambda.IFunction>>;
  readonly reconcileSchedule?: events.Rule;
  readonly sweepDlq?: sqs.IQueue;
  /** The sweep's interval, when it runs: its age alarm fires past three of them. */
  readonly indexSweep?: Duration;
}

export function createAlarms(scope: Construct, cfg: Resolved, p: MonitoredParts): Record<string, cw.Alarm> {
  const action = new cwActions.SnsAction(p.topic);
  const alarms: Record<string, cw.Alarm> = {};
  /**
   * `okToo`: notify recovery as well, for alarms that describe a lasting state rather than an arrival.
   * `periods`: consecutive breaching periods before it fires (a rate that lasts, not a burst).
   */
  const alarm = (id: string, description: string, metric: cw.IMetric, threshold: number, okToo = false, periods = 1) => {
    const a = new cw.Alarm(scope, id, {
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      comparisonOperator:
        threshold === 0 ? cw.ComparisonOperator.GREATER_THAN_THRESHOLD : cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No data means nothing arrived: each new period with arrivals notifies again.
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    a.addAlarmAction(action);
    if (okToo) a.addOkAction(action);
    alarms[id] = a;
  };
  const max = (period: Duration) => ({ period, statistic: cw.Stats.MAXIMUM });
  const sum = { period: FIVE_MINUTES, statistic: cw.Stats.SUM };
  const dlqAge = cfg.alarms.dlqOldestMessageAge;

  for (const [name, dlq, stage] of [
    ['IngressDlq', p.ingressDlq, 'route (invalid or undeliverable events)'],
    ['SyncDlq', p.syncDlq, 'apply (syncs Nango refused or that ran out of attempts)'],
  ] as const) {
    const inspect = 'inspect with `npm run dlq -- list`';
    alarm(
      `${name}MessagesSent`,
      `New failures from ${stage} were parked in the ${name}: ${inspect}.`,
      dlq.metricNumberOfMessagesSent(sum),
      0,
    );
    // SQS does not count messages its redrive policy moves in NumberOfMessagesSent: a rise in depth
    // catches those (a crash that exhausted maxReceiveCount).
    alarm(
      `${name}Growing`,
      `The ${name} grew: messages were moved there by the redrive policy (or written by ${stage}): ${inspect}.`,
      new cw.MathExpression({
        expression: 'DIFF(visible)',
        usingMetrics: { visible: dlq.metricApproximateNumberOfMessagesVisible(max(FIVE_MINUTES)) },
        period: FIVE_MINUTES,
        label: `${name} growth`,
      }),
      0,
    );
    alarm(
      `${name}OldestMessageAge`,
      `A message has waited ${dlqAge.toHumanString()} in the ${name}; it expires after ${cfg.dlqRetention.toHumanString()}: replay or save it.`,
      dlq.metricApproximateAgeOfOldestMessage(max(FIVE_MINUTES)),
      dlqAge.toSeconds(),
      true,
    );
  }
  alarm(
    'IngressOldestMessageAge',
    `The oldest ingress event has waited ${cfg.alarms.ingressOldestMessageAge.toHumanString()} or more: route is failing or throttled.`,
    p.ingress.metricApproximateAgeOfOldestMessage(max(Duration.minutes(1))),
    cfg.alarms.ingressOldestMessageAge.toSeconds(),
    true,
  );
  alarm(
    'SyncOldestMessageAge',
    `The oldest sync has waited ${cfg.alarms.syncOldestMessageAge.toHumanString()} or more for Nango: rate limited, Nango failing, or apply throttled.`,
    p.sync.metricApproximateAgeOfOldestMessage(max(Duration.minutes(1))),
    cfg.alarms.syncOldestMessageAge.toSeconds(),
    true,
  );
  for (const [name, fn] of Object.entries(p.functions)) {
    alarm(`${name}Errors`, `The ${name.toLowerCase()} function failed invocations.`, fn.metricErrors(sum), 0);
    alarm(`${name}Throttles`, `The ${name.toLowerCase()} function was throttled.`, fn.metricThrottles(sum), 0);
  }
  const w = cfg.alarms;
  alarm(
    'WebhookSignatureRejected',
    `${w.webhookSignatureRejectedPer5Minutes} or more requests in 5 minutes on the webhook's secret path with a bad signature: the signing key in the secret differs from Nango's (each delivery fails three times), or the path token leaked.`,
    customMetric(cfg, MetricName.WebhookSignatureRejected),
    w.webhookSignatureRejectedPer5Minutes,
  );
  alarm(
    'WebhookSigningKeyUnavailable',
    'The webhook function could not read the signing key (empty secret, no permission, Secrets Manager failing): every delivery is answered 503.',
    customMetric(cfg, MetricName.WebhookSigningKeyUnavailable),
    0,
  );
  // Lambda's own count of the URL's answers, whatever the function logged: a flood shows here.
  const urlMetric = (metricName: string) =>
    new cw.Metric({ namespace: 'AWS/Lambda', metricName, dimensionsMap: { FunctionName: p.functions.Webhook.functionName }, ...sum });
  alarm(
    'WebhookUrl4xx',
    `The webhook URL answered ${w.webhookUrl4xxPer5Minutes} or more requests with 4xx in each of two 5-minute periods: someone is hammering it (wrong paths, bad signatures), or throttled requests.`,
    urlMetric('Url4xxCount'),
    w.webhookUrl4xxPer5Minutes,
    true,
    2,
  );
  alarm(
    'WebhookUrl5xx',
    `The webhook URL answered ${w.webhookUrl5xxPer5Minutes} or more requests with 5xx in 5 minutes: the signing key or the sync queue is failing; Nango retries each delivery twice.`,
    urlMetric('Url5xxCount'),
    w.webhookUrl5xxPer5Minutes,
  );
  alarm(
    'WebhookSeedFailures',
    'Webhooks for new connections could not be turned into syncs; reconcile will repair them, or run it now.',
    customMetric(cfg, MetricName.WebhookSeedFailures),
    0,
  );
  alarm(
    'ReconcileDriftedConnections',
    "Reconcile found connections whose metadata differed from the desired state (Nango's dashboard or functions replaced it); syncs were enqueued.",
    customMetric(cfg, MetricName.ReconcileDriftedConnections),
    0,
  );
  if (p.sweepDlq) {
    alarm(
      'SweepDlqGrowing',
      "A sweep page failed past its retries (Nango refusing the listing, DynamoDB failing): the next tick resumes the run from its page; see the sweep's logs.",
      p.sweepDlq.metricApproximateNumberOfMessagesVisible(max(FIVE_MINUTES)),
      0,
    );
  }
  if (p.indexSweep) {
    alarm(
      'SweepStale',
      `No sweep run completed for three intervals (${p.indexSweep.toHumanString()} each): route has gone back to a list call per subject, and re-tags and lost webhooks wait. \`npm run reconcile -- --status\` shows the run.`,
      customMetric(cfg, MetricName.SweepAgeSeconds, cw.Stats.MAXIMUM),
      p.indexSweep.toSeconds() * 3,
      true,
    );
  }
  if (p.reconcileSchedule) {
    alarm(
      'ReconcileScheduleFailures',
      'EventBridge could not invoke the reconcile function on schedule.',
      new cw.Metric({
        namespace: 'AWS/Events',
        metricName: 'FailedInvocations',
        dimensionsMap: { RuleName: p.reconcileSchedule.ruleName },
        ...sum,
      }),
      0,
    );
  }
  return alarms;
}
