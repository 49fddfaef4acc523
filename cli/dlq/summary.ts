/**
 * The overview an operator reads first: how many failures, of which stage, with which error code,
 * for which event types and connections, and how old. Counts only; the text and JSON views are
 * rendered from the same object so scripts and humans see the same numbers.
 */
import type { DlqItem } from './model.ts';

export interface Count<K> {
  key: K;
  count: number;
}

export interface Summary {
  total: number;
  replayable: number;
  byStage: Count<string>[];
  byKind: Count<string>[];
  byErrorCode: Count<string>[];
  byEventType: Count<string>[];
  byConnection: Count<{ providerConfigKey: string; connectionId: string }>[];
  byAge: Count<string>[];
  oldest?: string | undefined;
  newest?: string | undefined;
}

export const AGE_BUCKETS: readonly { label: string; maxMs: number }[] = [
  { label: '< 1h', maxMs: 3_600_000 },
  { label: '1h-24h', maxMs: 86_400_000 },
  { label: '1d-7d', maxMs: 7 * 86_400_000 },
  { label: '> 7d', maxMs: Number.POSITIVE_INFINITY },
];

export function ageBucket(failedAt: Date, now: Date): string {
  const age = Math.max(0, now.getTime() - failedAt.getTime());
  return (AGE_BUCKETS.find((b) => age < b.maxMs) ?? AGE_BUCKETS[AGE_BUCKETS.length - 1]!).label;
}

export function summarize(items: readonly DlqItem[], now: Date = new Date()): Summary {
  const times = items.map((i) => i.failedAt.getTime()).filter((t) => t > 0);
  return {
    total: items.length,
    replayable: items.filter((i) => i.replay.ok).length,
    byStage: countBy(items, (i) => i.stage),
    byKind: countBy(items, (i) => i.kind),
    byErrorCode: countBy(items, (i) => i.errorCode),
    byEventType: countBy(items, (i) => i.eventType ?? '(unknown)'),
    byConnection: countBy(
      items.filter((i) => i.connectionId !== undefined),
      (i) => JSON.stringify([i.providerConfigKey ?? '', i.connectionId ?? '']),
    ).map(({ key, count }) => {
      const [providerConfigKey, connectionId] = JSON.parse(key) as [string, string];
      return { key: { providerConfigKey, connectionId }, count };
    }),
    // Buckets in age order, not by count: the distribution reads left to right.
    byAge: AGE_BUCKETS.map((b) => ({ key: b.label, count: items.filter((i) => ageBucket(i.failedAt, now) === b.label).length })).filter(
      (c) => c.count > 0,
    ),
    // reduce, not Math.min(...): a spread of a large DLQ would overflow the stack.
    oldest: times.length ? new Date(times.reduce((a, b) => Math.min(a, b))).toISOString() : undefined,
    newest: times.length ? new Date(times.reduce((a, b) => Math.max(a, b))).toISOString() : undefined,
  };
}

/** Largest group first; ties by key so output is stable. */
function countBy<T>(items: readonly T[], key: (t: T) => string): Count<string>[] {
  const m = new Map<string, number>();
  for (const it of items) m.set(key(it), (m.get(key(it)) ?? 0) + 1);
  return [...m.entries()]
    .map(([k, count]) => ({ key: k, count }))
    .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
