/**
 * A connection's membership (its subjects as Nango last listed it) and what follows from a change of
 * it. Pure functions only.
 */
import { createHash } from 'node:crypto';

export type MembershipKind = 'new' | 'moved' | 'same';

export interface MembershipChange {
  kind: MembershipKind;
  /** Subjects the connection joined (every subject of a new connection). */
  joined: string[];
  /** Subjects it left. */
  left: string[];
}

/** `previous` undefined: never listed before. Order does not matter. */
export function membershipChange(previous: readonly string[] | undefined, current: readonly string[]): MembershipChange {
  if (previous === undefined) return { kind: 'new', joined: [...new Set(current)], left: [] };
  const before = new Set(previous);
  const now = new Set(current);
  const joined = [...now].filter((s) => !before.has(s));
  const left = [...before].filter((s) => !now.has(s));
  return { kind: joined.length || left.length ? 'moved' : 'same', joined, left };
}

/**
 * A listed connection against its membership: a connection created again under the same id (another
 * `created`) is new, whatever subjects it shares with the one before: its indexes are moved as for a
 * re-tag, and it is seeded whole. A membership without `created` (written before it was recorded) is
 * compared by subjects only.
 */
export function listedChange(
  previous: { subjects: readonly string[]; created?: string | undefined } | undefined,
  current: readonly string[],
  created: string | undefined,
): MembershipChange & { recreated: boolean } {
  const change = membershipChange(previous?.subjects, current);
  const recreated = previous?.created !== undefined && created !== undefined && !sameCreated(previous.created, created);
  return recreated ? { kind: 'new', joined: [...new Set(current)], left: change.left, recreated } : { ...change, recreated };
}

/**
 * Two listings' `created` name one creation when they name one instant: Nango may write it as `Z` or
 * `+00:00`, with more or fewer fraction digits, and a format change must not re-seed the whole fleet.
 * Text that is no date is compared as text.
 */
export function sameCreated(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  return Number.isFinite(ta) && Number.isFinite(tb) ? ta === tb : false;
}

/**
 * A digest of a connection's tags as listed (order-free): kept with its membership, so a change of
 * subjects under the same tags is told from a re-tag (the catalog changed, Nango did not).
 */
export function tagsDigest(tags: Readonly<Record<string, unknown>> | undefined): string {
  const sorted = Object.entries(tags ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 32);
}

/**
 * Whether a moved connection is read again from Nango before its seed (one list call): unless it
 * only joined subjects under the very tags its membership was listed with. Such a move is the
 * catalog's (a new tag key or connection-id event type): the listing is as fresh as a new
 * connection's, and a fleet-wide catalog change costs no call per connection. A connection that
 * left a subject is always read again, so no state is sent under a membership it no longer has.
 */
export function needsLookup(change: MembershipChange, before: { tags?: string | undefined } | undefined, tags: string): boolean {
  return change.kind === 'moved' && !(change.left.length === 0 && before?.tags !== undefined && before.tags === tags);
}

/** What the applied item records as a key's source: short, since an item holds one per key. */
export const subjectDigest = (subject: string): string => createHash('sha256').update(subject).digest('hex').slice(0, 16);

/**
 * The keys a connection holds only from subjects it no longer belongs to: their source is none of
 * its current subjects, and none of those subjects sets them now. They are sent as `null` (Nango
 * cannot delete a key), so no former customer's value stays behind.
 */
export function keysToClear(
  sources: Readonly<Record<string, string>>,
  currentSubjects: readonly string[],
  stillDesired: ReadonlySet<string>,
): string[] {
  const current = new Set(currentSubjects.map(subjectDigest));
  return Object.entries(sources)
    .filter(([key, source]) => !current.has(source) && !stillDesired.has(key))
    .map(([key]) => key)
    .sort();
}
