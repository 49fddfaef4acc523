/**
 * The sweep: a paced full listing of Nango's connections, one page of 1,000 per invocation, chained
 * through its own queue, so no invocation grows with the fleet. One run at a time holds the lease
 * item `R#<name>`; a page is claimed before it is listed and counted after; the next page's message
 * is sent last. A chain that broke (a message parked, a send that failed, a function that died) is
 * resumed by the next tick once the lease lapsed, at the page it stopped on.
 *
 * A tick (every minute) starts a run when the last one started at least INDEX_SWEEP_SECONDS ago
 * (less half a tick); the daily tick asks for drift repair, which the next run started does.
 */
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { defaultOf } from '../config.ts';
import type { NangoPort } from '../nango/port.ts';
import type { QueuePort } from '../queues.ts';
import type { RunPort, RunState } from '../state/membership.ts';
import type { UnmatchedPort } from '../state/unmatched.ts';
import { type PageCounts, type PageDeps, type PageReport, sweepPage } from './page.ts';
import { firstUnmatchedMessage } from './unmatched.ts';

export const SWEEP_RUN = 'index';
/** The deployed schedule ticks every minute. */
export const TICK_MS = 60_000;

// The schemas here are built on their first parse (`z.lazy`), not at a cold start's import.
export const sweepMessageSchema = z.lazy(() =>
  z.object({
    v: z.literal(1),
    kind: z.literal('sweep-page'),
    run: z.string().min(1).max(128),
    page: z.number().int().nonnegative(),
    repair: z.boolean(),
  }),
);
export type SweepMessage = z.output<typeof sweepMessageSchema>;

export interface SweepDeps extends PageDeps {
  nango: Pick<NangoPort, 'listConnections'>;
  runs: RunPort;
  queues: PageDeps['queues'] & Pick<QueuePort, 'send'>;
  sweepQueueUrl: string;
  intervalMs: number;
  /** How long a run's chain may go quiet before a tick resumes it: longer than one page's invocation. */
  leaseMs: number;
  pageSize?: number;
  name?: string;
  /** Subjects route found without a connection: checked after a repair run's last page. */
  unmatched?: UnmatchedPort;
}

export type TickOutcome = { action: 'started' | 'resumed'; run: string; page: number } | { action: 'running' | 'idle'; run?: string };

/**
 * `tickMs`: how often the schedule ticks (a minute when deployed; local runs scale it with the
 * interval). A run due within half a tick starts now rather than a tick late.
 */
export async function tick(deps: SweepDeps, o: { repair: boolean; now?: number; tickMs?: number }): Promise<TickOutcome> {
  const name = deps.name ?? SWEEP_RUN;
  const now = o.now ?? Date.now();
  const r = await deps.runs.readRun(name);
  if (r?.status === 'running') {
    if (o.repair && !r.repair) await deps.runs.requestRepair(name);
    if (r.leaseUntil >= now) return { action: 'running', run: r.run };
    if (!(await deps.runs.renewLease(name, r.run, now + deps.leaseMs, now))) return { action: 'running', run: r.run };
    await sendPage(deps, { v: 1, kind: 'sweep-page', run: r.run, page: r.page, repair: r.repair });
    return { action: 'resumed', run: r.run, page: r.page };
  }
  const repair = o.repair || r?.repairRequested === true;
  if (!repair && r && now - r.startedAt < deps.intervalMs - (o.tickMs ?? TICK_MS) / 2) return { action: 'idle' };
  const run = `${new Date(now).toISOString()}-${randomUUID().slice(0, 8)}`;
  if (!(await deps.runs.startRun(name, run, repair, now, deps.leaseMs))) return { action: 'running' };
  await sendPage(deps, { v: 1, kind: 'sweep-page', run, page: 0, repair });
  return { action: 'started', run, page: 0 };
}

export type PageOutcome =
  | { action: 'skipped' }
  | { action: 'next' | 'done'; report: PageReport; listMs: number; run?: RunState['lastComplete']; unmatchedCheck?: 'queued' | 'failed' };

export async function runPage(deps: SweepDeps, m: SweepMessage, deadline: number): Promise<PageOutcome> {
  const name = deps.name ?? SWEEP_RUN;
  const pageSize = deps.pageSize ?? defaultOf('SWEEP_PAGE_SIZE');
  // A duplicate, or a page of a run that moved on or was replaced: nothing to do.
  if (!(await deps.runs.claimPage(name, m.run, m.page, Date.now(), deps.leaseMs))) return { action: 'skipped' };
  try {
    const listedAt = Date.now();
    const batch = await deps.nango.listConnections({}, { limit: pageSize, page: m.page }, { deadline });
    const listMs = Date.now() - listedAt;
    const report = await sweepPage(deps, batch, { repair: m.repair, runId: m.run, listedAt });
    if (report.counts.syncsFailed) throw new Error(`${report.counts.syncsFailed} sync(s) not enqueued`);
    const done = batch.length < pageSize;
    const counts = { ...report.counts, pages: 1 } as Record<string, number>;
    if (!(await deps.runs.advance(name, m.run, m.page, counts, Date.now(), deps.leaseMs, done))) return { action: 'skipped' };
    if (done) {
      const run = (await deps.runs.readRun(name))?.lastComplete;
      if (!m.repair || !deps.unmatched) return { action: 'done', report, listMs, run };
      // The run is done whatever becomes of the check: a send that failed waits for the next day's.
      const unmatchedCheck = await deps.queues.send(deps.sweepQueueUrl, { body: JSON.stringify(firstUnmatchedMessage(m.run)) }).then(
        () => 'queued' as const,
        () => 'failed' as const,
      );
      return { action: 'done', report, listMs, run, unmatchedCheck };
    }
    await sendPage(deps, { ...m, page: m.page + 1 });
    return { action: 'next', report, listMs };
  } catch (e) {
    await deps.runs.releasePage(name, m.run, m.page).catch(() => undefined);
    throw e;
  }
}

async function sendPage(deps: SweepDeps, m: SweepMessage): Promise<void> {
  await deps.queues.send(deps.sweepQueueUrl, { body: JSON.stringify(m) });
}

export type { PageCounts };
