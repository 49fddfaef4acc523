/**
 * Apply's tenancy rules: a subject's keys go only to a connection whose membership (its subjects as
 * Nango last listed it) still holds that subject; a seed from a webhook is a hint, so the connection
 * is read from Nango's list endpoint first (one call, by connection id); a connection that left a
 * subject has the keys it holds only from that subject set to `null`; and the applied-state item is
 * checked to fit before any PATCH whose orders it would have to record.
 */
import type { MetadataPatch } from '#events/define';
import { logger } from '#powertools/logger';
import { MetricName, MetricUnit, metrics } from '#powertools/metrics';
import type { DesiredKey } from '../domain/desired.ts';
import { keysToClear, listedChange, sameCreated, subjectDigest, tagsDigest } from '../domain/membership.ts';
import { subjectsOfConnection } from '../domain/subject.ts';
import { Failure } from '../failure.ts';
import { MAX_PAGE_SIZE } from '../nango/filter.ts';
import type { NangoPort } from '../nango/port.ts';
import { attributeBytes, MAX_APPLIED_BYTES } from '../state/limits.ts';
import type { MembershipPort } from '../state/membership.ts';
import type { AppliedState, StatePort } from '../state/port.ts';
import type { Target } from '../sync/message.ts';

export interface TenancyDeps {
  nango: Pick<NangoPort, 'listConnections'>;
  state: Pick<StatePort, 'addToIndex' | 'removeFromIndex' | 'forgetApplied'>;
  members: Pick<MembershipPort, 'readMember' | 'writeMember' | 'forgetMember'>;
  tagKeySets: readonly (readonly string[])[];
  byConnectionId: boolean;
}

export interface Membership {
  /** The subjects whose keys this sync may send. */
  subjects: string[];
  /** Every subject the connection belongs to; undefined when it was never listed (then what route found stands). */
  current: string[] | undefined;
  /** Nango no longer lists the connection. */
  gone: boolean;
  /**
   * Nango lists another connection under this id than the membership's (created again): it starts
   * with no metadata, and what was recorded as sent went to the one before, so every key in scope is sent.
   */
  recreated?: boolean;
}

/** How long a sweep's seed waits for the membership its page writes once the seed is queued. */
export const MEMBERSHIP_WAIT_MS = 1_500;

/**
 * The subjects a group's syncs may send. For a `lookup` seed, or a sync naming a subject the
 * membership does not hold, Nango is asked first and what it lists becomes the membership (indexes
 * moved to match) and the subjects to send. A sweep's seed (`sweepSeed`, on its first try) that
 * names a subject the membership lacks waits for the membership first: its page writes it just after
 * queuing the seed, and a catalog change seeds every connection at once (a list call each otherwise).
 */
export async function memberSubjects(
  deps: TenancyDeps,
  target: Target,
  named: readonly string[],
  lookup: boolean,
  deadline: number,
  o: { sweepSeed?: boolean; attempt?: number } = {},
): Promise<Membership> {
  if (lookup) return lookUp(deps, target, deadline);
  // A retry reads what was written since the first try.
  const m = await deps.members.readMember(target, (o.attempt ?? 1) > 1);
  if (!m) return { subjects: [...named], current: undefined, gone: false };
  const allowed = new Set(m.subjects);
  const subjects = named.filter((s) => allowed.has(s));
  if (subjects.length === named.length) return { subjects, current: m.subjects, gone: false };
  if (o.sweepSeed && (o.attempt ?? 1) === 1) {
    throw new Failure({
      source: 'aws',
      kind: 'unavailable',
      code: 'membership_pending',
      message: "the seed names a subject its connection's membership lacks: waiting for the sweep page to write it",
      retryAfterMs: MEMBERSHIP_WAIT_MS,
    });
  }
  // Route named a subject the membership does not hold: either the connection left it, or Nango
  // re-tagged it into it (no webhook) and no sweep has listed it since. Nango decides, at one list
  // call: the membership and indexes follow what it shows now.
  const fresh = await lookUp(deps, target, deadline);
  const now = new Set(fresh.current);
  const left = named.filter((s) => !now.has(s));
  if (left.length) {
    metrics.addMetric(MetricName.SubjectsNotMember, MetricUnit.Count, left.length);
    logger.info('subjects the connection left are not sent', { dropped: left.length });
    // Out of the indexes that still named it, so route stops sending it their changes.
    await Promise.all(left.map((s) => deps.state.removeFromIndex(s, target)));
  }
  return fresh;
}

async function lookUp(deps: TenancyDeps, target: Target, deadline: number): Promise<Membership> {
  const listedAt = Date.now();
  // Nango trims each id of its integrationId list: a key with outer spaces cannot be named there, so
  // that connection is listed by its id alone (one page holds all of one id's integrations).
  const scoped = target.providerConfigKey === target.providerConfigKey.trim();
  const listed = await deps.nango.listConnections(
    scoped ? { connectionId: target.connectionId, integrationIds: [target.providerConfigKey] } : { connectionId: target.connectionId },
    { limit: scoped ? 10 : MAX_PAGE_SIZE, page: 0 },
    { deadline },
  );
  const found = listed.find((c) => c.connectionId === target.connectionId && c.providerConfigKey === target.providerConfigKey);
  const before = await deps.members.readMember(target);
  if (!found) {
    // Deleted since its webhook (or a replay of an old one): out of every index it was in.
    await Promise.all((before?.subjects ?? []).map((s) => deps.state.removeFromIndex(s, target)));
    if (before) await deps.members.forgetMember(target);
    return { subjects: [], current: [], gone: true };
  }
  const current = subjectsOfConnection(found, deps.tagKeySets, deps.byConnectionId).map((s) => s.id);
  const change = listedChange(before, current, found.created);
  // Forgotten before the membership records the new creation: once it does, no later listing tells
  // the two connections apart, and a sync would send only keys newer than the old one's.
  if (change.recreated) await deps.state.forgetApplied(target);
  if (change.kind !== 'same' || !before || !sameCreated(before.created, found.created)) {
    const adds = await Promise.all(change.joined.map((s) => deps.state.addToIndex(s, target)));
    await Promise.all(change.left.map((s) => deps.state.removeFromIndex(s, target)));
    const refused = adds.filter((a) => !a).length;
    if (refused) metrics.addMetric(MetricName.IndexAddsRefused, MetricUnit.Count, refused);
    await deps.members.writeMember(target, { subjects: current, seenAt: listedAt, created: found.created, tags: tagsDigest(found.tags) });
  } else {
    // Joins are re-added: a subject's index may have lost it (route's own listing, a 404 long ago).
    await Promise.all(current.map((s) => deps.state.addToIndex(s, target)));
  }
  return { subjects: current, current, gone: false, recreated: change.recreated };
}

/** Whether the connection holds keys from a subject it left (then its state is sent whole). */
export function holdsForeignKeys(applied: AppliedState, current: readonly string[] | undefined): boolean {
  if (!current || !applied.sources) return false;
  const mine = new Set(current.map(subjectDigest));
  return Object.values(applied.sources).some((s) => !mine.has(s));
}

export interface Clearing {
  /** The patch with `null` for every key held only from a subject left. */
  patch: MetadataPatch | undefined;
  cleared: string[];
  sources: Record<string, string>;
}

/** Adds the clearing nulls to a plan's patch and names each sent key's source subject. */
export function withClearing(
  patch: MetadataPatch | undefined,
  planned: readonly DesiredKey[],
  desired: ReadonlyMap<string, DesiredKey>,
  applied: AppliedState,
  current: readonly string[] | undefined,
): Clearing {
  const sources = Object.fromEntries(planned.map((k) => [k.key, subjectDigest(k.subject)]));
  if (!current || !applied.sources) return { patch, cleared: [], sources };
  const cleared = keysToClear(applied.sources, current, new Set(desired.keys()));
  if (cleared.length === 0) return { patch, cleared, sources };
  metrics.addMetric(MetricName.KeysCleared, MetricUnit.Count, cleared.length);
  return { patch: { ...(patch ?? {}), ...Object.fromEntries(cleared.map((k) => [k, null])) }, cleared, sources };
}

/**
 * Refuses, before the PATCH, a plan whose orders and sources would not fit the connection's applied
 * item: recorded after a PATCH that already succeeded, an overflow would be retried for ever.
 */
export function assertAppliedFits(
  applied: AppliedState,
  planned: Readonly<Record<string, string>>,
  sources: Readonly<Record<string, string>>,
): void {
  let bytes = applied.bytes ?? 0;
  for (const [key, order] of Object.entries(planned)) {
    if (applied.keys[key] === undefined) bytes += attributeBytes(`k:${key}`, order);
    else bytes += Math.max(0, Buffer.byteLength(order) - Buffer.byteLength(applied.keys[key]!));
    const source = sources[key];
    if (source !== undefined && applied.sources?.[key] === undefined) bytes += attributeBytes(`s:${key}`, source);
  }
  if (bytes > MAX_APPLIED_BYTES) {
    throw new Failure({
      source: 'input',
      kind: 'over_limit',
      code: 'applied_state_too_large',
      message: `the connection's applied state would take ${bytes} bytes, past ${MAX_APPLIED_BYTES}: fewer or shorter keys per connection`,
    });
  }
}
