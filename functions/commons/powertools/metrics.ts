/**
 * The Powertools Metrics singleton (EMF). Names are constants so dashboards and alarms in infra/
 * can refer to the same strings.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'NangoMetadataSync',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'nango-metadata-sync',
});

export const MetricName = {
  EventsReceived: 'EventsReceived',
  EventsInvalid: 'EventsInvalid',
  PatchesEnqueued: 'PatchesEnqueued',
  PatchesApplied: 'PatchesApplied',
  PatchesCoalesced: 'PatchesCoalesced',
  StaleKeysSkipped: 'StaleKeysSkipped',
  NangoLatency: 'NangoLatency',
  NangoErrors: 'NangoErrors',
  DlqWrites: 'DlqWrites',
} as const;

export { MetricUnit };

/** A count with its own dimensions (error code, stage) in a separate EMF blob, so the batch's other metrics keep theirs. */
export function countBy(name: string, dimensions: Record<string, string>, value = 1): void {
  const single = metrics.singleMetric();
  for (const [k, v] of Object.entries(dimensions)) single.addDimension(k, v.slice(0, 250) || 'none');
  single.addMetric(name, MetricUnit.Count, value);
}
