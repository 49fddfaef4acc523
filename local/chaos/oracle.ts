/**
 * The chaos run's oracle, independent of the functions' code: what each connection must hold at the
 * end. For every key, among the valid events of the connection's subjects (its `organization_id`
 * tag and its own id) whose integration scope includes the connection, the write with the greatest
 * (version, event id) wins; the seed metadata keeps every other key. Versions and patches come from
 * the catalog entries (the specification), never from the state table.
 */
import type { WorkloadEvent, WorldConnection } from './workload.ts';

export const connKey = (t: { connectionId: string; providerConfigKey: string }): string => `${t.providerConfigKey}\u0000${t.connectionId}`;

export interface Expected {
  connection: WorldConnection;
  want: Record<string, unknown>;
  /** The winning event of each owned key. */
  winners: Map<string, WorkloadEvent>;
  /** Every valid event that carries at least one key in scope for this connection (the times it may become dirty). */
  events: Set<string>;
  /** Per key, the ids of the in-scope events carrying it. */
  carriers: Map<string, Set<string>>;
}

const subjectsOf = (c: WorldConnection): string[] => [
  ...(c.tags.organization_id ? [`tags:${c.tags.organization_id}`] : []),
  `connection:${c.connectionId}`,
];

/** Newer: greater version, then greater event id (ids are fixed-length in the workload, so plain string order). */
const newer = (a: WorkloadEvent, b: WorkloadEvent): boolean => {
  if (a.expect.kind !== 'valid' || b.expect.kind !== 'valid') return false;
  return a.expect.version !== b.expect.version ? a.expect.version > b.expect.version : a.id > b.id;
};

export function expectedState(connections: readonly WorldConnection[], events: readonly WorkloadEvent[]): Map<string, Expected> {
  const bySubject = new Map<string, WorkloadEvent[]>();
  for (const e of events) {
    if (e.expect.kind !== 'valid') continue;
    const list = bySubject.get(e.expect.subject) ?? [];
    list.push(e);
    bySubject.set(e.expect.subject, list);
  }
  const out = new Map<string, Expected>();
  for (const c of connections) {
    const winners = new Map<string, WorkloadEvent>();
    const carriers = new Map<string, Set<string>>();
    const seen = new Set<string>();
    for (const s of subjectsOf(c)) {
      for (const e of bySubject.get(s) ?? []) {
        if (e.expect.kind !== 'valid') continue;
        const scope = e.expect.integrations;
        if (scope !== 'all' && !scope.includes(c.providerConfigKey)) continue;
        seen.add(e.id);
        for (const key of Object.keys(e.expect.patch)) {
          const prev = winners.get(key);
          if (!prev || newer(e, prev)) winners.set(key, e);
          if (!carriers.has(key)) carriers.set(key, new Set());
          carriers.get(key)!.add(e.id);
        }
      }
    }
    const want: Record<string, unknown> = { ...(c.metadata ?? {}) };
    for (const [key, e] of winners) if (e.expect.kind === 'valid') want[key] = e.expect.patch[key];
    out.set(connKey(c), { connection: c, want, winners, events: seen, carriers });
  }
  return out;
}

/** Stable JSON for comparisons (own keys sorted). */
export function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

/** Keys whose stored value differs from the expected one. */
export function differingKeys(want: Record<string, unknown>, got: Record<string, unknown> | null | undefined): string[] {
  const g = got ?? {};
  return [...new Set([...Object.keys(want), ...Object.keys(g)])].filter((k) => canonical(want[k]) !== canonical(g[k]));
}
