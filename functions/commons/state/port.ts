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
   * When this call stored its keys (epoch ms, this process's clock). A sync queued after the call
   * carries a time at least this late, so apply can tell its keys from later rewrites.
   */
  at: number;
}

export interface IndexEntry {
  connections: Target[];
  /** When Nango was last asked (epoch ms); undefined when only webhooks filled it. */
  fetchedAt: number | undefined;
}

export interface AppliedState {
  /** key -> order last sent to Nango. */
  keys: Record<string, string>;
  /** Since when apply has left this connection's keys to later syncs (epoch ms); unset once they are sent. */
  deferredSince: number | undefined;
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
  /** Records the orders just sent, and that nothing is left waiting. */
  recordApplied(target: Target, applied: Readonly<Record<string, string>>): Promise<void>;
  /** Notes that keys were left to a later sync, unless already noted: the first time is kept. */
  markDeferred(target: Target, at: number): Promise<void>;
  /** Forgets what a connection was sent (Nango no longer has it). */
  forgetApplied(target: Target): Promise<void>;
  readIndex(subject: string): Promise<IndexEntry | undefined>;
  /**
   * Replaces the index with what Nango listed (asked at `listedSince`); a connection added to the
   * index since then (by its webhook) is kept.
   */
  replaceIndex(subject: string, connections: readonly Target[], fetchedAt: number, listedSince?: number): Promise<void>;
  addToIndex(subject: string, target: Target): Promise<void>;
  removeFromIndex(subject: string, target: Target): Promise<void>;
}
