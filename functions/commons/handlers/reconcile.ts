/**
 * Reconcile, on a schedule: finds connections whose owned keys drifted from the desired state
 * (Nango's dashboard and functions may replace metadata whole) and enqueues a repair sync for each.
 * Publishes what it found as metrics (an alarm watches drift). Throws when it could not finish, so
 * the failure shows in the function's errors.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { type Catalog, subjectRules } from '#events/define';
import { logger } from '#powertools/logger';
import { MetricName, MetricUnit, metrics } from '#powertools/metrics';
import { loadConfig, reconcileConfigSchema } from '#commons/config';
import { reconcile, type ReconcileDeps } from '#commons/reconcile/run';
import { deadlineFrom, nangoFromConfig, queuesFromConfig, stateFromConfig } from '#commons/wiring';

function init(catalog: Catalog): ReconcileDeps {
  const c = loadConfig(reconcileConfigSchema);
  return {
    nango: nangoFromConfig(c),
    state: stateFromConfig(c),
    queues: queuesFromConfig(),
    syncQueueUrl: c.SYNC_QUEUE_URL,
    ...subjectRules(catalog),
    maxConnectionsPerSubject: c.MAX_CONNECTIONS_PER_SUBJECT,
  };
}

export type ReconcileHandler = (_event: unknown, context: Context) => Promise<{ checked: number; drifted: number; incomplete: boolean }>;

/** The reconcile function over `catalog` (its subject rules tell a listed connection's subjects). */
export const createReconcileHandler = ({ catalog }: { catalog: Catalog }): ReconcileHandler => {
  let deps: ReconcileDeps | undefined;
  return async (_event, context) => {
    logger.addContext(context);
    deps ??= init(catalog);
    try {
      const r = await reconcile(deps, { dryRun: false, deadline: deadlineFrom(context), runId: context.awsRequestId || randomUUID() });
      metrics.addMetric(MetricName.ReconcileConnectionsChecked, MetricUnit.Count, r.checked);
      metrics.addMetric(MetricName.ReconcileDriftedConnections, MetricUnit.Count, r.drifted.length);
      metrics.addMetric(MetricName.ReconcileDriftedKeys, MetricUnit.Count, r.driftedKeys);
      if (r.unmatchedCount !== undefined) {
        metrics.addMetric(MetricName.ReconcileUnmatchedSubjects, MetricUnit.Count, r.unmatchedCount);
        const near = r.unmatched?.filter((u) => u.nearMatches.length) ?? [];
        if (r.unmatchedCount)
          logger.warn('subjects hold state that no connection belongs to: their events reach nobody', {
            unmatched: r.unmatchedCount,
            nearMatches: near.slice(0, 50).map((u) => ({ subject: u.subject, near: u.nearMatches })),
          });
      }
      logger.info('reconcile done', {
        pages: r.pages,
        checked: r.checked,
        drifted: r.drifted.length,
        keys: r.driftedKeys,
        repairs: r.repairsEnqueued,
      });
      if (r.incomplete || r.repairsFailed)
        throw new Error(`reconcile incomplete: ${r.incomplete ? 'ran out of time' : `${r.repairsFailed} repair(s) not enqueued`}`);
      return { checked: r.checked, drifted: r.drifted.length, incomplete: r.incomplete };
    } finally {
      metrics.publishStoredMetrics();
    }
  };
};
