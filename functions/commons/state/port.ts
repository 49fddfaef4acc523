/**
 * The state store port: desired state per subject, applied state per connection, and each subject's
 * connection index. One adapter (DynamoDB, a single table); tests run it against dynalite.
 */
import type { Integrations, Json } from '#events/define';
import type { DesiredKey } from '../domain/desired.ts';
import type { EventRef, Target } from '../sync/message.ts';

export interface KeyWrite {
  key: string;
  value: Json;
  order: string;
  integrations: Integrations;
  event: EventRef;
}

export interface WriteOutcome {
  /** Keys stored by this call, or already stored by an earlier attempt of the same write. */
  written: string[];
  /** Keys a newer write already holds. */
  stale: string[];
  /**
   * The latest write time of the keys counted as written (epoch ms): this call's clock, or the time
   * an earlier attempt of the same write stored. A sync queued after the call carries a time at
   * least this late, so apply can tell its keys from later rewrites.
   */
  at: number;
}

export interface IndexEntry {
  connections: Target[];
  /** When Nango was last asked (epoch ms); undefined when only webhooks filled it. */
  fetchedAt: number | undefined;
  /**
   * When an add was refused because the index was full (epoch ms): the index then lacks a member, so
   * it is not trusted until a listing replaces it.
   */
  refusedAt?: number | undefined;
}

export interface AppliedState {
  /** key -> order last sent to Nango. */
  keys: Record<string, string>;
  /** subject -> since when apply has left its keys to later syncs (epoch ms); gone once a sync that read the subject sent them or found nothing to send. */
  deferredSince: Record<string, number>;
  /**
   * subject -> when the settle sync last queued for its wait is due (epoch ms): one is on its way
   * while that is later than now. Optional: absent is none.
   */
  settleDue?: Record<string, number>;
  /** When a PATCH was last recorded (epoch ms); absent before any. */
  sentAt?: number;
  /** key -> digest of the subject its value came from (`subjectDigest`); absent for keys sent before it was kept. */
  sources?: Record<string, string>;
  /** The item's size as DynamoDB counts it (approximately, rounded up). */
  bytes?: number;
}

/** What a PATCH changed beyond the orders: where each sent key came from, and the keys it set to null. */
export interface AppliedProvenance {
  sources?: Readonly<Record<string, string>>;
  cleared?: readonly string[];
}

export interface StatePort {
  /**
   * Each key is stored only when its order is newer than the stored one; an equal order (this very
   * write again, from a retried record) counts as written and leaves the item, its write time included, as it was.
   */
  writeDesired(subject: string, writes: readonly KeyWrite[]): Promise<WriteOutcome>;
  /** Strongly consistent. */
  readDesired(subject: string): Promise<DesiredKey[]>;
  /** Strongly consistent. */
  readApplied(target: Target): Promise<AppliedState>;
  /**
   * Records the orders just sent (possibly none), and that the keys of `subjects` (the ones read for
   * that PATCH, or found with nothing to send) no longer wait.
   */
  recordApplied(
    target: Target,
    applied: Readonly<Record<string, string>>,
    subjects?: readonly string[],
    provenance?: AppliedProvenance,
  ): Promise<void>;
  /**
   * Notes that these subjects' keys were left to later syncs, unless already noted: the first time is
   * kept. `settle` names the subjects a settle sync was just queued for, and when it is due.
   */
  markDeferred(
    target: Target,
    subjects: readonly string[],
    at: number,
    settle?: { subjects: readonly string[]; due: number },
  ): Promise<void>;
  /** Forgets what a connection was sent (Nango no longer has it). */
  forgetApplied(target: Target): Promise<void>;
  readIndex(subject: string): Promise<IndexEntry | undefined>;
  /**
   * Replaces the index with what Nango listed (asked at `listedSince`); a connection added to the
   * index since then (by its webhook) is kept.
   */
  replaceIndex(subject: string, connections: readonly Target[], fetchedAt: number, listedSince?: number): Promise<void>;
  /**
   * Adds what a listing found (asked at `fetchedAt`) and trusts the index from then; removes nothing,
   * and leaves an index a newer listing wrote as it is.
   */
  mergeIndex(subject: string, connections: readonly Target[], fetchedAt: number): Promise<void>;
  /** False when the index is full (MAX_CONNECTIONS_PER_SUBJECT): the add is refused. */
  addToIndex(subject: string, target: Target): Promise<boolean>;
  removeFromIndex(subject: string, target: Target): Promise<void>;
  /**
   * An operator's reset of one key of a subject: every scope keeps its value, at the lowest order
   * there is, so the next event for the key wins whatever version it carries. Returns how many scopes
   * were reset (0: the subject holds no such key) and every key released with it: the keys one event
   * wrote together share one order, so they are released together, and each must be sent again.
   */
  resetDesiredKey(subject: string, key: string): Promise<{ scopes: number; keys: string[] }>;
  /** Forgets the order a connection was last sent for one key, so its next sync sends the key again. */
  forgetAppliedKey(target: Target, key: string): Promise<void>;
  /** Every subject that holds at least one desired key (a paged scan: reconcile's, once a run). */
  subjectsWithState(): Promise<string[]>;
}
