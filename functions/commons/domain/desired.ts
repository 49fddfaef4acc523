/**
 * What a connection should receive: the desired state of its subjects, in scope for its integration,
 * less what it was last sent. Pure: apply and reconcile both decide with it.
 */
import type { Integrations, Json, MetadataPatch } from '#events/define';
import type { EventRef } from '../sync/message.ts';
import { isNewer } from './order.ts';
import { inScope } from './subject.ts';

/** One key of one subject's desired state. */
export interface DesiredKey {
  subject: string;
  key: string;
  value: Json;
  order: string;
  integrations: Integrations;
  event: EventRef;
  /** When route stored it (epoch ms, the writer's clock). */
  writtenAt: number;
}

/** For each key in scope, the newest write across the connection's subjects. */
export function desiredFor(keys: readonly DesiredKey[], providerConfigKey: string): Map<string, DesiredKey> {
  const out = new Map<string, DesiredKey>();
  for (const k of keys) {
    if (!inScope(k.integrations, providerConfigKey)) continue;
    const prev = out.get(k.key);
    if (isNewer(k.order, prev?.order)) out.set(k.key, k);
  }
  return out;
}

export interface Plan {
  /** Undefined when there is nothing to send. */
  patch: MetadataPatch | undefined;
  /** The applied state to record once the patch succeeded: key -> order. */
  applied: Record<string, string>;
  keys: DesiredKey[];
}

/**
 * The keys whose desired order is newer than the applied one (all of them when `force`, for a seed
 * or a repair, since Nango's copy may differ whatever we last sent).
 */
export function planSync(desired: ReadonlyMap<string, DesiredKey>, applied: Readonly<Record<string, string>>, force: boolean): Plan {
  const keys = [...desired.values()].filter((d) => force || isNewer(d.order, applied[d.key]));
  if (keys.length === 0) return { patch: undefined, applied: {}, keys };
  return {
    patch: Object.fromEntries(keys.map((k) => [k.key, k.value])),
    applied: Object.fromEntries(keys.map((k) => [k.key, k.order])),
    keys,
  };
}

export interface Deferral {
  /** When route queued the sync (epoch ms); undefined for seeds, repairs, replays: they never defer. */
  queuedAt: number | undefined;
  /** subject -> since when its keys have been left to later syncs of this connection. */
  deferredSince: Readonly<Record<string, number>>;
  now: number;
  /** How long a connection's keys may be left to later syncs (0: never). */
  maxDeferMs: number;
}

/**
 * Whether a change sync may leave its keys to later syncs of the same connection: every subject with
 * a key to send had a key rewritten after this sync was queued. Route stores keys before it queues
 * their syncs, so each such rewrite queued a sync for this connection, naming that subject, behind
 * this one (its FIFO group); that sync sends every key of the subject this one would, with newer
 * values: one PATCH where there would be two. While apply is behind route (a backlog, a rate limit)
 * a connection is PATCHed about once, not once per change. A subject without a later rewrite has no
 * later sync to count on, so its keys are sent now (with all the others). Never for longer than
 * `maxDeferMs` from a subject's first deferral, so a customer whose state keeps changing is still
 * PATCHed at least that often.
 */
export function deferToLaterSync(keys: readonly DesiredKey[], d: Deferral): boolean {
  const { queuedAt } = d;
  if (queuedAt === undefined || keys.length === 0 || d.maxDeferMs <= 0) return false;
  const subjects = new Set(keys.map((k) => k.subject));
  for (const s of subjects) {
    const since = d.deferredSince[s];
    if (since !== undefined && d.now - since >= d.maxDeferMs) return false;
    if (!keys.some((k) => k.subject === s && k.writtenAt > queuedAt)) return false;
  }
  return true;
}

/**
 * Whether a change sync that no later sync will follow may still wait: the connection's changes keep
 * coming. Within `windowMs` before the sync was queued, at least two events wrote keys it is to
 * receive, or one did and the connection was PATCHed (or its syncs stand for two events), and one of
 * the keys it would send is among them.
 * Measured from the queue time, not now: a sync that waited behind others (apply behind route) is
 * still part of the burst it came from. An isolated change (a trickle) is sent at once; a customer in
 * the middle of a burst waits for the burst to settle. Bounded by `maxDeferMs` as `deferToLaterSync` is.
 */
export function changesKeepComing(
  keys: readonly DesiredKey[],
  desired: Iterable<DesiredKey>,
  d: Deferral & { windowMs: number; events: number; sentAt?: number | undefined },
): boolean {
  if (d.queuedAt === undefined || keys.length === 0 || d.maxDeferMs <= 0) return false;
  for (const s of new Set(keys.map((k) => k.subject))) {
    const since = d.deferredSince[s];
    if (since !== undefined && d.now - since >= d.maxDeferMs) return false;
  }
  const from = d.queuedAt - d.windowMs;
  const recent = (k: DesiredKey) => k.writtenAt > from;
  if (!keys.some(recent)) return false;
  const writes = new Set<string>();
  for (const k of desired) if (recent(k)) writes.add(`${k.subject}\n${k.event.id}`);
  // A PATCH in the window was the change before this one (one event type rewriting its keys).
  if (d.sentAt !== undefined && d.sentAt > from) writes.add('');
  return writes.size >= 2 || d.events >= 2;
}

export interface Drift {
  key: string;
  atNango: unknown;
  desired: Json;
}

/** Keys we own whose value at Nango differs from the desired one (deep, key-order insensitive). */
export function driftOf(desired: ReadonlyMap<string, DesiredKey>, metadata: Record<string, unknown> | null | undefined): Drift[] {
  const out: Drift[] = [];
  for (const d of desired.values()) {
    const at = metadata?.[d.key];
    if (!jsonEqual(at, d.value)) out.push({ key: d.key, atNango: at, desired: d.value });
  }
  return out;
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((v, i) => jsonEqual(v, (b as unknown[])[i]));
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b as object, k) && jsonEqual((a as never)[k], (b as never)[k]));
}
