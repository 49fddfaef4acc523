/**
 * Which DLQ messages a command acts on. Every criterion given must match (AND); a criterion with
 * several values matches any of them (OR). Selection is ordered so replay keeps each connection's
 * messages in their original order, and --max takes the oldest first.
 */
import type { Stage } from '#commons/dlq-envelope';
import { CliError } from './errors.ts';
import type { DlqItem } from './model.ts';

export interface Filter {
  stages?: Stage[] | undefined;
  errorCodes?: string[] | undefined;
  eventTypes?: string[] | undefined;
  connectionIds?: string[] | undefined;
  providerConfigKeys?: string[] | undefined;
  messageIds?: string[] | undefined;
  /** Failure time (envelope lastFailureAt, else the DLQ message's SentTimestamp), inclusive. */
  since?: Date | undefined;
  /** Exclusive. */
  until?: Date | undefined;
  max?: number | undefined;
}

export function matches(item: DlqItem, f: Filter): boolean {
  const inList = (list: string[] | undefined, v: string | undefined) => !list?.length || (v !== undefined && list.includes(v));
  return (
    inList(f.stages, item.stage) &&
    inList(f.errorCodes, item.errorCode) &&
    inList(f.eventTypes, item.eventType) &&
    inList(f.connectionIds, item.connectionId) &&
    inList(f.providerConfigKeys, item.providerConfigKey) &&
    inList(f.messageIds, item.messageId) &&
    (!f.since || item.failedAt.getTime() >= f.since.getTime()) &&
    (!f.until || item.failedAt.getTime() < f.until.getTime())
  );
}

/** Oldest failure first; within a FIFO group the DLQ's sequence number breaks ties. */
export function compareItems(a: DlqItem, b: DlqItem): number {
  const t = a.failedAt.getTime() - b.failedAt.getTime();
  if (t !== 0) return t;
  if (a.sequenceNumber && b.sequenceNumber) {
    const sa = BigInt(a.sequenceNumber);
    const sb = BigInt(b.sequenceNumber);
    if (sa !== sb) return sa < sb ? -1 : 1;
  }
  return a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0;
}

export function select(items: readonly DlqItem[], f: Filter): DlqItem[] {
  const chosen = items.filter((i) => matches(i, f)).sort(compareItems);
  return f.max !== undefined ? chosen.slice(0, f.max) : chosen;
}

export const hasCriteria = (f: Filter): boolean =>
  Boolean(
    f.errorCodes?.length ||
      f.eventTypes?.length ||
      f.connectionIds?.length ||
      f.providerConfigKeys?.length ||
      f.messageIds?.length ||
      f.since ||
      f.until ||
      f.max !== undefined,
  );

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A point in time: ISO-8601 (`2026-05-01`, `2026-05-01T10:00:00Z`) or an age relative to now
 * (`90m`, `2h`, `7d` = that long ago).
 */
export function parseTime(value: string, flag: string, now: Date = new Date()): Date {
  const rel = /^(\d+)\s*([smhdw])$/i.exec(value.trim());
  if (rel) return new Date(now.getTime() - Number(rel[1]) * (UNIT_MS[rel[2]!.toLowerCase()] ?? 0));
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const d = new Date(value);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new CliError(`${flag}: "${value}" is not a time; use ISO-8601 (2026-05-01T10:00:00Z) or an age such as 30m, 2h, 7d`);
}

/** Repeatable flags also accept comma-separated values: --error-code a,b --error-code c. */
export function splitList(values: readonly string[] | undefined): string[] | undefined {
  if (!values?.length) return undefined;
  const out = values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return out.length ? out : undefined;
}
