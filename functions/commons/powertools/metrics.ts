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
  /** A function could not build its dependencies (bad configuration): the invocation failed. */
  StartFailures: 'StartFailures',
  EventsReceived: 'EventsReceived',
  EventsInvalid: 'EventsInvalid',
  /** Desired-state keys written (newer than what was stored). */
  KeysWritten: 'KeysWritten',
  /** Keys dropped at route because a newer version was already stored. */
  KeysStale: 'KeysStale',
  /** A subject's state changed while it had no connection yet: it waits for a webhook or reconcile. */
  SubjectsWithoutConnections: 'SubjectsWithoutConnections',
  ConnectionLookups: 'ConnectionLookups',
  SyncsEnqueued: 'SyncsEnqueued',
  /** Sync messages apply received (an envelope record carries several syncs: it counts once). */
  SyncMessagesReceived: 'SyncMessagesReceived',
  /** Connections PATCHed by apply. */
  SyncsApplied: 'SyncsApplied',
  /** Syncs that found nothing to send (Nango already had every key). */
  SyncsNoop: 'SyncsNoop',
  /** Connections left to a later sync (a key to send was rewritten after the sync was queued). */
  SyncsDeferred: 'SyncsDeferred',
  /** How long the keys a PATCH sent had been left to later syncs (from the first deferral of a subject it read). */
  DeferredWait: 'DeferredWait',
  KeysApplied: 'KeysApplied',
  NangoLatency: 'NangoLatency',
  NangoErrors: 'NangoErrors',
  DlqWrites: 'DlqWrites',
  WebhooksReceived: 'WebhooksReceived',
  WebhookSignatureRejected: 'WebhookSignatureRejected',
  /**
   * Requests the webhook refused before reading a delivery (wrong path, method, size or signature);
   * the EMF line names the reason (`rejection`). A rise is someone probing the URL.
   */
  WebhookRequestsRejected: 'WebhookRequestsRejected',
  WebhookSeedsEnqueued: 'WebhookSeedsEnqueued',
  WebhookSeedFailures: 'WebhookSeedFailures',
  /** The signing key could not be read (empty secret, Secrets Manager failing): no delivery can be checked. */
  WebhookSigningKeyUnavailable: 'WebhookSigningKeyUnavailable',
  ReconcileConnectionsChecked: 'ReconcileConnectionsChecked',
  ReconcileDriftedConnections: 'ReconcileDriftedConnections',
  ReconcileDriftedKeys: 'ReconcileDriftedKeys',
  /**
   * Subjects holding state that no connection belongs to, counted by the sweep's daily check (route
   * notes each when its keys reach nobody): their events reach nobody.
   */
  ReconcileUnmatchedSubjects: 'ReconcileUnmatchedSubjects',
  /** The sweep: pages listed, connections listed, added (new), moved (re-tagged), seeded, left unchanged. */
  SweepPages: 'SweepPages',
  /** Invocations by the schedule (a minute tick or the daily repair), and messages from the sweep's queue. */
  SweepTicks: 'SweepTicks',
  SweepMessagesReceived: 'SweepMessagesReceived',
  SweepConnectionsListed: 'SweepConnectionsListed',
  SweepConnectionsAdded: 'SweepConnectionsAdded',
  SweepConnectionsMoved: 'SweepConnectionsMoved',
  SweepSeedsEnqueued: 'SweepSeedsEnqueued',
  /** A run ended: its duration, and how old the last complete run is at each tick (route trusts the index while it is young). */
  SweepRunsCompleted: 'SweepRunsCompleted',
  SweepRunSeconds: 'SweepRunSeconds',
  SweepAgeSeconds: 'SweepAgeSeconds',
  /** An index add refused: the subject's index is full (MAX_CONNECTIONS_PER_SUBJECT). */
  IndexAddsRefused: 'IndexAddsRefused',
  /** Keys set to null at a connection that left the subject they came from. */
  KeysCleared: 'KeysCleared',
  /** Subjects a sync named that the connection no longer belongs to: their keys were not sent. */
  SubjectsNotMember: 'SubjectsNotMember',
} as const;

export { MetricUnit };

/** A count with its own dimensions (error code, stage) in a separate EMF blob, so the batch's other metrics keep theirs. */
export function countBy(name: string, dimensions: Record<string, string>, value = 1): void {
  const single = metrics.singleMetric();
  for (const [k, v] of Object.entries(dimensions)) single.addDimension(k, v.slice(0, 250) || 'none');
  single.addMetric(name, MetricUnit.Count, value);
}
