/**
 * One page of the sweep: up to 1,000 connections as Nango lists them, compared with their membership
 * (one BatchGet per 100). A connection whose subjects did not change costs that read and nothing
 * else. A new connection joins its subjects' indexes and is seeded; a re-tagged one joins its new
 * subjects' indexes, leaves its old ones', and gets a seed that sends its new subjects' state and
 * clears (null) the keys it held only from a subject it left. With `repair` on (the daily run), every
 * connection's owned keys are also compared with the desired state, read once per subject per page,
 * and a drifted one gets a repair sync.
 *
 * Removals of connections Nango no longer has are apply's (its PATCH answers 404): offset paging can
 * hide a connection from one listing while others are deleted, so absence from a page proves nothing.
 */
import { mapConcurrent } from '../concurrency.ts';
import { desiredFor, type Drift, driftOf, type DesiredKey } from '../domain/desired.ts';
import { listedChange, needsLookup, tagsDigest } from '../domain/membership.ts';
import { subjectsOfConnection } from '../domain/subject.ts';
import type { ListedConnection } from '../nango/port.ts';
import type { OutgoingMessage, QueuePort } from '../queues.ts';
import type { MembershipPort } from '../state/membership.ts';
import type { StatePort } from '../state/port.ts';
import { connectionKey, subjectChunks, syncDeduplicationId, syncMessage, type SyncReason, type Target } from '../sync/message.ts';

const STATE_CONCURRENCY = 16;

export interface PageDeps {
  state: Pick<StatePort, 'readDesired' | 'addToIndex' | 'removeFromIndex'>;
  members: MembershipPort;
  queues: Pick<QueuePort, 'sendBatch'>;
  syncQueueUrl: string;
  tagKeySets: readonly (readonly string[])[];
  byConnectionId: boolean;
}

export interface PageOptions {
  /** Compare owned keys with the desired state and repair drift (the daily run). */
  repair: boolean;
  /** Don't write or enqueue anything (the CLI's dry run). */
  dryRun?: boolean;
  /** Distinguishes this run's syncs from another's (SQS deduplication). */
  runId: string;
  /** When the page was asked for (epoch ms): membership is as of then. */
  listedAt: number;
  /** Only these subjects (CLI). */
  subjects?: ReadonlySet<string>;
}

export interface DriftedConnection extends Target {
  subjects: string[];
  drift: Drift[];
}

export interface PageCounts {
  listed: number;
  /** Connections with at least one subject. */
  members: number;
  unchanged: number;
  added: number;
  moved: number;
  seeded: number;
  drifted: number;
  driftedKeys: number;
  repairs: number;
  /** Index adds refused because the subject's index is full. */
  refused: number;
  indexWrites: number;
  membershipWrites: number;
  syncsFailed: number;
}

export interface PageReport {
  counts: PageCounts;
  drifted: DriftedConnection[];
}

export const emptyCounts = (): PageCounts => ({
  listed: 0,
  members: 0,
  unchanged: 0,
  added: 0,
  moved: 0,
  seeded: 0,
  drifted: 0,
  driftedKeys: 0,
  repairs: 0,
  refused: 0,
  indexWrites: 0,
  membershipWrites: 0,
  syncsFailed: 0,
});

export async function sweepPage(deps: PageDeps, listed: readonly ListedConnection[], o: PageOptions): Promise<PageReport> {
  const counts = emptyCounts();
  const drifted: DriftedConnection[] = [];
  counts.listed = listed.length;
  // Offset paging may list a connection twice while others come and go: once is enough.
  const unique = [...new Map(listed.map((c) => [connectionKey(c), c])).values()];
  const known = await deps.members.readMembers(unique);
  // Desired state once per subject and page, and only in a repair run.
  const desired = new Map<string, Promise<DesiredKey[]>>();
  const desiredOf = (s: string) => {
    let p = desired.get(s);
    if (!p) desired.set(s, (p = deps.state.readDesired(s)));
    return p;
  };
  const syncs: { target: Target; subjects: string[]; reason: SyncReason; lookup?: boolean }[] = [];
  // Membership is written after the seed is on its queue: a seed that was not sent is tried again
  // by the next listing, which still finds the connection new or moved.
  const writes: { target: Target; subjects: string[]; created: string | undefined; tags: string; sync: number | undefined }[] = [];

  await mapConcurrent(unique, STATE_CONCURRENCY, async (c) => {
    const target = { connectionId: c.connectionId, providerConfigKey: c.providerConfigKey };
    const subjects = subjectsOfConnection(c, deps.tagKeySets, deps.byConnectionId).map((s) => s.id);
    if (o.subjects && !subjects.some((s) => o.subjects!.has(s))) return;
    if (subjects.length) counts.members++;
    const before = known.get(connectionKey(target));
    // A newer listing (apply's seed lookup) already wrote what it saw.
    if (before && before.seenAt > o.listedAt) {
      counts.unchanged++;
      return;
    }
    const change = listedChange(before, subjects, c.created);
    const tags = tagsDigest(c.tags);
    // A membership written before `created` (or the tags' digest) was recorded gets it once (one
    // write), so a later re-creation under the same id, or a catalog change, is told apart; so does
    // one whose tags changed without a change of subjects.
    const backfill = change.kind === 'same' && ((before?.created === undefined && c.created !== undefined) || before?.tags !== tags);
    let seeded = false;
    if (change.kind === 'same') counts.unchanged++;
    else if (!o.dryRun) {
      // Indexes first, membership last: a page that dies between them is done again whole.
      const adds = await Promise.all(change.joined.map((s) => deps.state.addToIndex(s, target)));
      await Promise.all(change.left.map((s) => deps.state.removeFromIndex(s, target)));
      counts.indexWrites += change.joined.length + change.left.length;
      counts.refused += adds.filter((a) => !a).length;
      if (change.kind === 'new') counts.added++;
      else counts.moved++;
      // A new connection with subjects, or one that moved, is seeded: its webhook may never have come,
      // and one that left a subject must lose that subject's keys.
      // A connection created again with no subject holds nothing of the one before: nothing to clear.
      if (subjects.length || (change.left.length && !change.recreated)) {
        syncs.push({
          target,
          subjects: subjects.length ? subjects : change.left,
          reason: 'seed',
          lookup: needsLookup(change, before, tags),
        });
        seeded = true;
      }
    } else if (change.kind === 'new') counts.added++;
    else counts.moved++;
    if (o.repair && !seeded && subjects.length) {
      const keys = (await Promise.all(subjects.map(desiredOf))).flat();
      const want = desiredFor(keys, c.providerConfigKey);
      const drift = driftOf(want, c.metadata);
      if (drift.length) {
        const owners = subjects.filter((id) => [...want.values()].some((k) => k.subject === id));
        drifted.push({ ...target, subjects: owners, drift });
        counts.drifted++;
        counts.driftedKeys += drift.length;
        if (!o.dryRun) syncs.push({ target, subjects: owners, reason: 'repair' });
      }
    }
    if ((change.kind !== 'same' || backfill) && !o.dryRun)
      writes.push({ target, subjects, created: c.created, tags, sync: seeded ? syncs.length - 1 : undefined });
  });

  if (syncs.length) {
    // A connection in more subjects than one sync names gets several (MAX_SUBJECTS_PER_SYNC each).
    const messages: OutgoingMessage[] = syncs.flatMap((s, i) =>
      subjectChunks(s.subjects).map((subjects, j) => ({
        id: `${i}_${j}`,
        // A re-tagged connection's seed looks it up again: apply then holds the new membership before it
        // sends (this page writes it only once its syncs are queued), at one list call per re-tag. A
        // catalog's join needs none: apply reads the membership this page writes, or looks it up
        // itself if it comes first (a seed naming a subject the membership lacks).
        body: JSON.stringify({ ...syncMessage(s.target, subjects, s.reason), ...(s.lookup ? { lookup: true } : {}) }),
        groupId: connectionKey(s.target),
        deduplicationId: syncDeduplicationId(s.target, `${s.reason}\n${o.runId}\n${[...subjects].sort().join('\n')}`),
      })),
    );
    // A sync counts as sent only when every one of its messages was.
    const failures = new Set((await deps.queues.sendBatch(deps.syncQueueUrl, messages)).map((f) => f.id.split('_')[0]));
    counts.syncsFailed = failures.size;
    for (const [i, s] of syncs.entries()) {
      if (failures.has(String(i))) continue;
      if (s.reason === 'seed') counts.seeded++;
      else counts.repairs++;
    }
    for (const w of writes) if (w.sync !== undefined && failures.has(String(w.sync))) w.sync = -1;
  }
  await mapConcurrent(
    writes.filter((w) => w.sync !== -1),
    STATE_CONCURRENCY,
    async (w) => {
      await deps.members.writeMember(w.target, { subjects: w.subjects, seenAt: o.listedAt, created: w.created, tags: w.tags });
      counts.membershipWrites++;
    },
  );
  return { counts, drifted };
}
