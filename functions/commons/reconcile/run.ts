/**
 * Reconcile: pages through Nango's connections (metadata and tags included, one call per page),
 * compares the keys we own with the desired state of each connection's subjects, and, unless it is
 * a dry run, enqueues a repair sync for each connection that drifted (and makes sure the index knows
 * it). Used by the scheduled function and by `npm run reconcile`.
 *
 * A run that read every page of every integration also adds what it listed to each subject's
 * connection index: route then finds a customer's connections in the table, not with one Nango call
 * per customer. It removes nothing: offset paging can miss a connection while others are deleted,
 * and removals are route's listings' to make (after INDEX_TTL_SECONDS).
 */
import { mapConcurrent } from '../concurrency.ts';
import { desiredFor, type Drift, driftOf } from '../domain/desired.ts';
import { nearMatches, type UnmatchedSubject } from '../domain/near-match.ts';
import { type Subject, subjectsOfConnection } from '../domain/subject.ts';
import type { ConnectionFilter, ListedConnection, NangoPort } from '../nango/port.ts';
import type { QueuePort } from '../queues.ts';
import type { StatePort } from '../state/port.ts';
import { connectionKey, subjectChunks, syncDeduplicationId, syncMessage, type Target } from '../sync/message.ts';

/** State reads and writes of one page (up to 1,000 connections) at once. */
const STATE_CONCURRENCY = 16;

export interface ReconcileDeps {
  nango: Pick<NangoPort, 'listConnections'>;
  state: Pick<StatePort, 'readDesired' | 'addToIndex' | 'mergeIndex'> & Partial<Pick<StatePort, 'subjectsWithState'>>;
  queues: Pick<QueuePort, 'sendBatch'>;
  syncQueueUrl: string;
  tagKeySets: readonly (readonly string[])[];
  byConnectionId: boolean;
  /** A subject with more connections gets no index: route refuses its events (too_many_connections). */
  maxConnectionsPerSubject: number;
}

export interface ReconcileOptions {
  /** Only these subject ids (`tags:organization_id=acme`, `connection:acme-corp`). */
  subjects?: readonly string[];
  /** Only connections of these integrations. */
  integrations?: readonly string[];
  dryRun: boolean;
  /** Connections per page (1..1000). */
  pageSize?: number;
  deadline: number;
  /** Distinguishes this run's repairs from another's (SQS deduplication). */
  runId: string;
  onProgress?: (p: { pages: number; checked: number; drifted: number }) => void;
}

export interface DriftedConnection extends Target {
  subjects: string[];
  drift: Drift[];
}

export interface ReconcileReport {
  pages: number;
  checked: number;
  drifted: DriftedConnection[];
  driftedKeys: number;
  repairsEnqueued: number;
  repairsFailed: number;
  /** Subjects whose connection index got what this run listed (complete runs only, not dry runs). */
  indexed: number;
  /** The deadline came before the last page. */
  incomplete: boolean;
  /**
   * Subjects holding state that no listed connection belongs to (their events reach nobody), with
   * the listed subjects they nearly match; first MAX_UNMATCHED_SHOWN. Only from a complete run of
   * every integration and subject: a partial listing cannot tell.
   */
  unmatched?: UnmatchedSubject[];
  unmatchedCount?: number;
}

export const MAX_UNMATCHED_SHOWN = 1_000;

export async function reconcile(deps: ReconcileDeps, o: ReconcileOptions): Promise<ReconcileReport> {
  const pageSize = Math.min(1_000, Math.max(1, o.pageSize ?? 1_000));
  const report: ReconcileReport = {
    pages: 0,
    checked: 0,
    drifted: [],
    driftedKeys: 0,
    repairsEnqueued: 0,
    repairsFailed: 0,
    indexed: 0,
    incomplete: false,
  };
  const desiredCache = new Map<string, ReturnType<StatePort['readDesired']>>();
  const desiredOf = (s: string) => {
    let p = desiredCache.get(s);
    if (!p) desiredCache.set(s, (p = deps.state.readDesired(s)));
    return p;
  };
  const wanted = o.subjects ? new Set(o.subjects) : undefined;
  const filter: ConnectionFilter = o.integrations?.length ? { integrationIds: o.integrations } : {};
  // Only a listing of every integration sees all of a subject's connections.
  // Per subject, its connections by key: offset paging can list one twice while connections come and go.
  const members = o.dryRun || o.integrations?.length ? undefined : new Map<string, Map<string, Target>>();
  const listedSince = Date.now();
  // Every subject some listed connection belongs to, whatever the filters: what unmatched state is told from.
  const listed = new Set<string>();

  for (let page = 0; ; page++) {
    if (Date.now() >= o.deadline) {
      report.incomplete = true;
      break;
    }
    const batch = await deps.nango.listConnections(filter, { limit: pageSize, page }, { deadline: o.deadline });
    report.pages++;
    // State reads of one page run concurrently: a page is up to 1,000 connections.
    const found = await mapConcurrent(batch, STATE_CONCURRENCY, async (c) => {
      const all = subjectsOfConnection(c, deps.tagKeySets, deps.byConnectionId);
      for (const s of all) listed.add(s.id);
      const subjects = all.filter((s) => !wanted || wanted.has(s.id));
      if (subjects.length === 0) return undefined;
      if (members) {
        const target = { connectionId: c.connectionId, providerConfigKey: c.providerConfigKey };
        const key = connectionKey(target);
        for (const s of subjects) {
          const found = members.get(s.id) ?? new Map<string, Target>();
          found.set(key, target);
          members.set(s.id, found);
        }
      }
      const { drift, owners } = await driftOfConnection(c, subjects, desiredOf);
      return {
        checked: true,
        drifted: drift.length
          ? { connectionId: c.connectionId, providerConfigKey: c.providerConfigKey, subjects: owners, drift }
          : undefined,
      };
    });
    const repairs: DriftedConnection[] = [];
    for (const f of found) {
      if (!f) continue;
      report.checked++;
      if (!f.drifted) continue;
      report.drifted.push(f.drifted);
      report.driftedKeys += f.drifted.drift.length;
      repairs.push(f.drifted);
    }
    if (!o.dryRun && repairs.length) await repair(deps, repairs, o.runId, report);
    o.onProgress?.({ pages: report.pages, checked: report.checked, drifted: report.drifted.length });
    if (batch.length < pageSize) break;
  }
  if (members && !report.incomplete) await refreshIndexes(deps, members, listedSince, o.deadline, report);
  if (!report.incomplete && !o.integrations?.length && !wanted && deps.state.subjectsWithState) {
    const unmatched = (await deps.state.subjectsWithState()).filter((s) => !listed.has(s)).sort();
    report.unmatchedCount = unmatched.length;
    report.unmatched = nearMatches(unmatched.slice(0, MAX_UNMATCHED_SHOWN), listed);
  }
  return report;
}

/**
 * What the listing found goes into each subject's index, trusted from when the listing began (never
 * over a newer listing). Subjects over the cap are left to route, which refuses them.
 */
async function refreshIndexes(
  deps: ReconcileDeps,
  members: Map<string, Map<string, Target>>,
  listedSince: number,
  deadline: number,
  report: ReconcileReport,
) {
  const fits = [...members]
    .map(([s, found]) => [s, [...found.values()]] as const)
    .filter(([, t]) => t.length <= deps.maxConnectionsPerSubject);
  await mapConcurrent(fits, STATE_CONCURRENCY, async ([subject, targets]) => {
    // An index left as it was is still correct, only older: stopping at the deadline loses nothing.
    if (Date.now() >= deadline) return;
    await deps.state.mergeIndex(subject, targets, listedSince);
    report.indexed++;
  });
}

/** The drifted keys, and the subjects that hold state for this connection (the ones a repair must read). */
async function driftOfConnection(c: ListedConnection, subjects: Subject[], desiredOf: (s: string) => ReturnType<StatePort['readDesired']>) {
  const keys = (await Promise.all(subjects.map((s) => desiredOf(s.id)))).flat();
  const desired = desiredFor(keys, c.providerConfigKey);
  const owners = subjects.map((s) => s.id).filter((id) => [...desired.values()].some((k) => k.subject === id));
  return { drift: driftOf(desired, c.metadata), owners };
}

async function repair(deps: ReconcileDeps, repairs: DriftedConnection[], runId: string, report: ReconcileReport): Promise<void> {
  await mapConcurrent(repairs, STATE_CONCURRENCY, (r) => {
    const target = { connectionId: r.connectionId, providerConfigKey: r.providerConfigKey };
    return Promise.all(r.subjects.map((s) => deps.state.addToIndex(s, target)));
  });
  // A connection in more subjects than one sync names gets several (MAX_SUBJECTS_PER_SYNC each).
  const messages = repairs.flatMap((r, i) => {
    const target = { connectionId: r.connectionId, providerConfigKey: r.providerConfigKey };
    return subjectChunks(r.subjects).map((subjects, j) => ({
      id: `${i}_${j}`,
      body: JSON.stringify(syncMessage(target, subjects, 'repair')),
      groupId: connectionKey(target),
      deduplicationId: syncDeduplicationId(target, j === 0 ? `repair\n${runId}` : `repair\n${runId}\n${j}`),
    }));
  });
  // A repair counts as sent only when every one of its messages was.
  const failed = new Set((await deps.queues.sendBatch(deps.syncQueueUrl, messages)).map((f) => f.id.split('_')[0]));
  report.repairsFailed += failed.size;
  report.repairsEnqueued += repairs.length - failed.size;
}
