/** The operator's dashboard: queues, DLQs, functions, the pipeline's own metrics, alarm states. */
import { Duration } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { MetricName } from '#powertools/metrics';
import { customMetric, type MonitoredParts } from './monitoring.ts';
import type { Resolved } from './validate-props.ts';

const period = Duration.minutes(1);

export function createDashboard(scope: Construct, cfg: Resolved, p: MonitoredParts, alarms: readonly cw.IAlarm[]): cw.Dashboard {
  const custom = (name: string, label: string, statistic: string = cw.Stats.SUM) =>
    customMetric(cfg, name, statistic, period).with({ label });
  // Counted per code (and stage), so a query by `service` alone finds nothing: sum every series.
  const byDimensions = (name: string, dimensions: string, label: string) =>
    new cw.MathExpression({
      expression: `SUM(SEARCH('{${cfg.metricsNamespace},service,${dimensions}} MetricName="${name}" service="${cfg.serviceName}"', 'Sum', ${period.toSeconds()}))`,
      usingMetrics: {},
      label,
      period,
    });
  const graph = (title: string, left: cw.IMetric[]) => new cw.GraphWidget({ title, left, width: 8 });
  const visible = (label: string, q: MonitoredParts['ingress']) =>
    q.metricApproximateNumberOfMessagesVisible({ period, label, statistic: cw.Stats.MAXIMUM });
  const age = (label: string, q: MonitoredParts['ingress']) =>
    q.metricApproximateAgeOfOldestMessage({ period, label, statistic: cw.Stats.MAXIMUM });
  const fns = Object.entries(p.functions);

  const dashboard = new cw.Dashboard(scope, 'Dashboard', { dashboardName: cfg.dashboardName });
  dashboard.addWidgets(
    new cw.TextWidget({
      markdown:
        '# Nango metadata sync\nEvents -> ingress -> route -> state table -> sync.fifo -> apply -> Nango; Nango webhooks and reconcile also enqueue syncs. DLQ entries: `npm run dlq -- list`; replay after fixing the cause: `npm run dlq -- replay`.',
      width: 24,
      height: 2,
    }),
  );
  dashboard.addWidgets(
    graph('Queue depth', [visible('ingress', p.ingress), visible('sync', p.sync)]),
    graph('Dead-letter queues', [
      visible('ingress DLQ', p.ingressDlq),
      visible('sync DLQ', p.syncDlq),
      p.ingressDlq.metricNumberOfMessagesSent({ period, statistic: cw.Stats.SUM, label: 'ingress DLQ sent' }),
      p.syncDlq.metricNumberOfMessagesSent({ period, statistic: cw.Stats.SUM, label: 'sync DLQ sent' }),
    ]),
    graph('Age of oldest message (s)', [
      age('ingress', p.ingress),
      age('sync', p.sync),
      age('ingress DLQ', p.ingressDlq),
      age('sync DLQ', p.syncDlq),
    ]),
  );
  dashboard.addWidgets(
    graph(
      'Functions',
      (['Invocations', 'Errors', 'Throttles'] as const).flatMap((m) =>
        fns.map(([name, f]) => f.metric(m, { period, statistic: cw.Stats.SUM, label: `${name.toLowerCase()} ${m.toLowerCase()}` })),
      ),
    ),
    graph(
      'Duration p99 (ms)',
      fns.map(([name, f]) => f.metricDuration({ period, statistic: cw.Stats.p(99), label: name.toLowerCase() })),
    ),
    graph('Events and state', [
      custom(MetricName.EventsReceived, 'events received'),
      custom(MetricName.EventsInvalid, 'events invalid'),
      custom(MetricName.KeysWritten, 'keys written'),
      custom(MetricName.KeysStale, 'keys stale'),
      custom(MetricName.SubjectsWithoutConnections, 'subjects without connections'),
      byDimensions(MetricName.DlqWrites, 'code,stage', 'DLQ writes'),
    ]),
  );
  dashboard.addWidgets(
    graph('Syncs', [
      custom(MetricName.SyncsEnqueued, 'enqueued'),
      custom(MetricName.SyncsApplied, 'applied'),
      custom(MetricName.SyncsNoop, 'nothing to send'),
      custom(MetricName.SyncsDeferred, 'left to a later sync'),
      custom(MetricName.KeysApplied, 'keys applied'),
    ]),
    graph('Webhook and reconcile', [
      custom(MetricName.WebhooksReceived, 'webhooks received'),
      custom(MetricName.WebhookSignatureRejected, 'bad signatures'),
      custom(MetricName.WebhookRequestsRejected, 'requests rejected (any reason)'),
      custom(MetricName.WebhookSeedsEnqueued, 'seeds enqueued'),
      custom(MetricName.WebhookSeedFailures, 'seed failures'),
      custom(MetricName.ReconcileConnectionsChecked, 'connections checked'),
      custom(MetricName.ReconcileDriftedConnections, 'connections drifted'),
      // A point a day: subjects whose state still reaches no connection (no alarm: a customer may
      // simply have none yet; a count that stays up is a producer's tag to fix).
      custom(MetricName.ReconcileUnmatchedSubjects, 'subjects without a connection (daily)', cw.Stats.MAXIMUM),
    ]),
    graph('Nango', [
      custom(MetricName.NangoLatency, 'latency p99 (ms)', cw.Stats.p(99)),
      byDimensions(MetricName.NangoErrors, 'code', 'errors'),
      custom(MetricName.DeferredWait, 'deferred keys waited, max (ms)', cw.Stats.MAXIMUM),
    ]),
  );
  // The sweep's progress (a run is a chain of one-page invocations) and whether it keeps its interval.
  dashboard.addWidgets(
    graph('Sweep', [
      custom(MetricName.SweepPages, 'pages'),
      custom(MetricName.SweepConnectionsListed, 'connections listed'),
      custom(MetricName.SweepConnectionsAdded, 'added'),
      custom(MetricName.SweepConnectionsMoved, 'moved'),
      custom(MetricName.SweepSeedsEnqueued, 'seeds enqueued'),
      custom(MetricName.IndexAddsRefused, 'index adds refused (subject cap)'),
    ]),
    graph('Sweep runs (s)', [
      custom(MetricName.SweepRunSeconds, 'run duration, max', cw.Stats.MAXIMUM),
      custom(MetricName.SweepAgeSeconds, 'since the last complete run started, max', cw.Stats.MAXIMUM),
    ]),
    graph('Sweep runs completed', [custom(MetricName.SweepRunsCompleted, 'runs completed')]),
  );
  dashboard.addWidgets(new cw.AlarmStatusWidget({ title: 'Alarms', alarms: [...alarms], width: 24, height: 6 }));
  return dashboard;
}
