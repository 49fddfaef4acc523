/**
 * Event-time ordering across batches. The ingress queue is standard and route retries records, so
 * an older event can reach the patches queue after a newer one for the same connection. Nango has no
 * conditional write, so apply keeps, inside the connection's metadata, the event time that last set
 * each key (under VERSIONS_KEY), reads it first, and drops keys whose stored time is newer. Writes to
 * one connection are serial (FIFO group), so the read-then-write cannot race with our own writes.
 */
import type { Json, MetadataPatch } from '#events/define';
import type { PatchMessage } from '../patch-message.ts';
import { inEventTimeOrder } from '../event-time.ts';

export const VERSIONS_KEY = '_metadataSyncVersions';

export type Versions = Record<string, string>;

export interface Plan {
  /** What to PATCH (with the updated versions), or undefined when every key was stale. */
  patch: MetadataPatch | undefined;
  /** Keys dropped because a newer event already set them. */
  staleKeys: number;
}

export function readVersions(metadata: Record<string, unknown> | null): Versions {
  const v = metadata?.[VERSIONS_KEY];
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  const out: Versions = {};
  for (const [k, t] of Object.entries(v)) if (typeof t === 'string') out[k] = t;
  return out;
}

/**
 * Fold the messages in event-time order over the stored versions: a key is written when its event
 * is at least as new as the one that last wrote it. The versions map travels in the same PATCH
 * (a nested object is replaced whole, so it is sent complete).
 */
export function planGuardedPatch(messages: readonly PatchMessage[], stored: Versions): Plan {
  const versions: Versions = { ...stored };
  let patch: MetadataPatch = {};
  let staleKeys = 0;
  let written = 0;
  for (const m of inEventTimeOrder(messages)) {
    for (const [k, v] of Object.entries(m.patch)) {
      if (k === VERSIONS_KEY) continue;
      const seen = versions[k];
      if (seen !== undefined && seen > m.event.time) {
        staleKeys++;
        continue;
      }
      patch = { ...patch, [k]: v as Json };
      versions[k] = m.event.time;
      written++;
    }
  }
  if (written === 0) return { patch: undefined, staleKeys };
  return { patch: { ...patch, [VERSIONS_KEY]: versions }, staleKeys };
}
