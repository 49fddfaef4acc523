/**
 * The sweep (and the daily reconcile, which is the same walker with drift repair on): invoked by the
 * minute tick and the daily schedule (input `{"sweep": "tick"}` or `{"sweep": "repair"}`), it starts
 * or resumes a run; invoked by its own queue, it lists one page of Nango's connections and keeps
 * membership, indexes and seeds in step with it (see sweep/run.ts). Each invocation lists at most
 * one page, whatever the fleet.
 */
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type Catalog, subjectRules } from '#events/define';
import { logger, subjectForLog } from '#powertools/logger';
import { MetricName, MetricUnit, metrics } from '#powertools/metrics';
import { loadConfig, reconcileConfigSchema } from '#commons/config';
import { tryJson } from '#commons/json';
import { DynamoMembershipStore } from '#commons/state/membership';
import { runPage, SWEEP_RUN, type SweepDeps, sweepMessageSchema, tick } from '#commons/sweep/run';
import { nangoFromConfig } from '#commons/nango/from-config';
import { DynamoUnmatchedStore } from '#commons/state/unmatched';
import { checkUnmatchedPage, type UnmatchedMessage, unmatchedMessageSchema } from '#commons/sweep/unmatched';
import { deadlineFrom, dynamoClient, queuesFromConfig, stateFromConfig } from '#commons/wiring';
import { lambdaHandler } from './lambda-handler.ts';

function init(catalog: Catalog, context: Context): SweepDeps {
  const c = loadConfig(reconcileConfigSchema);
  const state = stateFromConfig(c);
  const members = new DynamoMembershipStore(dynamoClient(), c.STATE_TABLE_NAME);
  return {
    nango: nangoFromConfig(c),
    state,
    members,
    runs: members,
    unmatched: new DynamoUnmatchedStore(dynamoClient(), c.STATE_TABLE_NAME),
    queues: queuesFromConfig(),
    syncQueueUrl: c.SYNC_QUEUE_URL,
    sweepQueueUrl: c.SWEEP_QUEUE_URL,
    intervalMs: c.INDEX_SWEEP_SECONDS * 1_000,
    pageSize: c.SWEEP_PAGE_SIZE,
    // A page's invocation is over by its timeout: a lease of that plus a minute outlives a live chain.
    leaseMs: context.getRemainingTimeInMillis() + 60_000,
    ...subjectRules(catalog),
  };
}

/** `tickSeconds`: how often this schedule ticks, when not the deployed minute (local runs scale time). */
type Scheduled = { sweep?: unknown; tickSeconds?: unknown };

export type ReconcileHandler = (event: SQSEvent | Scheduled, context: Context) => Promise<SQSBatchResponse | Record<string, unknown>>;

/** The sweep and reconcile function over `catalog` (its subject rules tell a listed connection's subjects). */
export const createReconcileHandler = ({ catalog }: { catalog: Catalog }): ReconcileHandler =>
  lambdaHandler(
    (context) => init(catalog, context),
    async (event: SQSEvent | Scheduled, deps, context): Promise<SQSBatchResponse | Record<string, unknown>> => {
      if ('Records' in event && Array.isArray(event.Records)) return await pages(deps, event, context);
      metrics.addMetric(MetricName.SweepTicks, MetricUnit.Count, 1);
      const repair = (event as Scheduled).sweep === 'repair';
      const r = await deps.runs.readRun(SWEEP_RUN);
      if (r?.lastComplete)
        metrics.addMetric(MetricName.SweepAgeSeconds, MetricUnit.Seconds, (Date.now() - r.lastComplete.startedAt) / 1_000);
      const every = (event as Scheduled).tickSeconds;
      const tickMs = typeof every === 'number' && every > 0 ? every * 1_000 : undefined;
      const outcome = await tick(deps, { repair, ...(tickMs ? { tickMs } : {}) });
      logger.info('sweep tick', { ...outcome, repair });
      return outcome;
    },
  );

/** The same function under the name of what it mostly does. */
export const createSweepHandler = createReconcileHandler;

/** Batch size 1: one page per invocation. A failure goes back to the queue (its DLQ after the redrive count). */
async function pages(d: SweepDeps, event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  const failures: { itemIdentifier: string }[] = [];
  metrics.addMetric(MetricName.SweepMessagesReceived, MetricUnit.Count, event.Records.length);
  for (const record of event.Records) {
    const body = tryJson(record.body);
    const check = unmatchedMessageSchema.safeParse(body);
    if (check.success) {
      if (!(await unmatched(d, check.data))) failures.push({ itemIdentifier: record.messageId });
      continue;
    }
    const parsed = sweepMessageSchema.safeParse(body);
    if (!parsed.success) {
      logger.error('not a sweep page message; dropped', { messageId: record.messageId });
      continue;
    }
    try {
      const out = await runPage(d, parsed.data, deadlineFrom(context));
      if (out.action === 'skipped') continue;
      const c = out.report.counts;
      metrics.addMetric(MetricName.SweepPages, MetricUnit.Count, 1);
      metrics.addMetric(MetricName.SweepConnectionsListed, MetricUnit.Count, c.listed);
      metrics.addMetric(MetricName.SweepConnectionsAdded, MetricUnit.Count, c.added);
      metrics.addMetric(MetricName.SweepConnectionsMoved, MetricUnit.Count, c.moved);
      metrics.addMetric(MetricName.SweepSeedsEnqueued, MetricUnit.Count, c.seeded);
      metrics.addMetric(MetricName.IndexAddsRefused, MetricUnit.Count, c.refused);
      if (parsed.data.repair) {
        metrics.addMetric(MetricName.ReconcileConnectionsChecked, MetricUnit.Count, c.members);
        metrics.addMetric(MetricName.ReconcileDriftedConnections, MetricUnit.Count, c.drifted);
        metrics.addMetric(MetricName.ReconcileDriftedKeys, MetricUnit.Count, c.driftedKeys);
      }
      if (out.action === 'done' && out.run) {
        metrics.addMetric(MetricName.SweepRunsCompleted, MetricUnit.Count, 1);
        metrics.addMetric(MetricName.SweepRunSeconds, MetricUnit.Seconds, (out.run.endedAt - out.run.startedAt) / 1_000);
        logger.info('sweep run complete', { run: out.run.run, repair: out.run.repair, pages: out.run.pages, counts: out.run.counts });
        if (out.unmatchedCheck === 'failed')
          logger.warn('the check of subjects without a connection could not be queued; the next daily run does it');
      }
      logger.info('sweep page', { run: parsed.data.run, page: parsed.data.page, listMs: out.listMs, ...c });
    } catch (e) {
      logger.warn('sweep page failed; it will be retried', { run: parsed.data.run, page: parsed.data.page, error: (e as Error).message });
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures: failures };
}

/**
 * One page of the check of subjects without a connection; the last reports them: the metric, and
 * one bounded line naming the first few (as digests unless LOG_SUBJECT_IDS) and what they nearly match.
 */
async function unmatched(d: SweepDeps, m: UnmatchedMessage): Promise<boolean> {
  try {
    const out = await checkUnmatchedPage(d.unmatched!, m);
    if (out.action === 'next') {
      await d.queues.send(d.sweepQueueUrl, { body: JSON.stringify(out.message) });
      return true;
    }
    metrics.addMetric(MetricName.ReconcileUnmatchedSubjects, MetricUnit.Count, out.count);
    if (out.count === 0) return true;
    logger.warn('subjects hold state that no connection belongs to: their events reach nobody', {
      run: m.run,
      count: out.count,
      ...(out.oldestSince ? { oldestSince: new Date(out.oldestSince).toISOString() } : {}),
      subjects: out.samples.map((u) => ({
        subject: subjectForLog(u.subject),
        nearMatches: u.nearMatches.map((n) => ({ subject: subjectForLog(n.subject), differsBy: n.differsBy })),
      })),
    });
    return true;
  } catch (e) {
    logger.warn('the check of subjects without a connection failed; it will be retried', { run: m.run, error: (e as Error).message });
    return false;
  }
}
