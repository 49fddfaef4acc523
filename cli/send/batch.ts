/**
 * Cutting events into requests: at most 10 per request and at most 256 KiB per request, the limits
 * EventBridge PutEvents and SQS SendMessageBatch share. An event over 256 KiB on its own is refused
 * before anything is sent. Sizes are counted as each service counts them.
 */
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { sqsSafeJson } from '#commons/json';
import { entrySize } from '../../local/standins/eventbridge.ts';
import type { EventFileEntry } from './read.ts';

export const MAX_BATCH = 10;
export const MAX_BYTES = 256 * 1024;

export interface Item<T> {
  /** Position in the input, for the summary. */
  index: number;
  where: string;
  payload: T;
  bytes: number;
}

export function busEntry(e: EventFileEntry, busName: string): PutEventsRequestEntry {
  return {
    Source: e.source,
    DetailType: e.detailType,
    Detail: JSON.stringify(e.detail),
    ...(e.time ? { Time: e.time } : {}),
    ...(e.resources ? { Resources: e.resources } : {}),
    EventBusName: busName,
  };
}

export function busItems(events: readonly EventFileEntry[], busName: string): Item<PutEventsRequestEntry>[] {
  return events.map((e, index) => {
    const payload = busEntry(e, busName);
    return { index, where: e.where, payload, bytes: entrySize(payload as Parameters<typeof entrySize>[0]) };
  });
}

export function queueItems(events: readonly EventFileEntry[]): Item<string>[] {
  return events.map((e, index) => {
    // As route's own sends: SQS refuses U+FFFE and U+FFFF raw, their JSON escapes read back the same.
    const payload = sqsSafeJson(JSON.stringify(e.envelope));
    return { index, where: e.where, payload, bytes: Buffer.byteLength(payload, 'utf8') };
  });
}

/** Items over the limit, as one line each. */
export function oversized(items: readonly Item<unknown>[]): string[] {
  return items
    .filter((i) => i.bytes > MAX_BYTES)
    .map((i) => `${i.where}: ${i.bytes} bytes, over the 256 KiB (${MAX_BYTES} bytes) an event may have`);
}

/** In input order, each batch as full as both limits allow. */
export function batches<T>(items: readonly Item<T>[]): Item<T>[][] {
  const out: Item<T>[][] = [];
  let cur: Item<T>[] = [];
  let bytes = 0;
  for (const it of items) {
    if (cur.length && (cur.length >= MAX_BATCH || bytes + it.bytes > MAX_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += it.bytes;
  }
  if (cur.length) out.push(cur);
  return out;
}
