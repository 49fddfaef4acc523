/**
 * Overlapping writes per connection, from the Nango stand-in's request log. A "slow" fault holds a
 * request past the client's timeout and never applies it: the client has given up and retries, so
 * the stand-in sees two writes at once although only one can land. Those are counted apart; any
 * other overlap is a concurrency bug (Nango's PATCH reads, then writes: one of the two is lost).
 */
import type { RecordedRequest } from '../standins/nango.ts';

/** The connection a write request is about (current endpoint: the body; legacy: the path and header). */
function writeTarget(r: RecordedRequest): string | undefined {
  if (r.method !== 'PATCH' && r.method !== 'POST') return undefined;
  if (r.path === '/connections/metadata') {
    const b = r.body as { connection_id?: unknown; provider_config_key?: unknown } | undefined;
    return typeof b?.connection_id === 'string' && typeof b.provider_config_key === 'string'
      ? `${b.provider_config_key}\u0000${b.connection_id}`
      : undefined;
  }
  const m = /^\/connection\/([^/]+)\/metadata$/.exec(r.path);
  if (!m) return undefined;
  try {
    return `${r.headers['provider-config-key'] ?? ''}\u0000${decodeURIComponent(m[1]!)}`;
  } catch {
    return undefined;
  }
}

interface Write {
  n: number;
  start: number;
  end: number;
  unawaited: boolean;
}

/** Whether nobody waited for a write's answer, beyond a slow fault (recognised here). */
export type Unawaited = (r: RecordedRequest) => boolean;

function writesByConnection(requests: readonly RecordedRequest[], unawaited: Unawaited) {
  const byConn = new Map<string, Write[]>();
  for (const r of requests) {
    const k = writeTarget(r);
    if (k === undefined) continue;
    const list = byConn.get(k) ?? [];
    list.push({ n: r.n, start: r.startedAt, end: r.endedAt ?? Number.POSITIVE_INFINITY, unawaited: r.fault === 'delay' || unawaited(r) });
    byConn.set(k, list);
  }
  for (const list of byConn.values()) list.sort((a, b) => a.start - b.start);
  return byConn;
}

/** Request numbers of the writes nobody waited for. */
export function unawaitedWrites(requests: readonly RecordedRequest[], unawaited: Unawaited = () => false): Set<number> {
  const out = new Set<number>();
  for (const list of writesByConnection(requests, unawaited).values()) for (const w of list) if (w.unawaited) out.add(w.n);
  return out;
}

export function writeOverlaps(
  requests: readonly RecordedRequest[],
  unawaited: Unawaited = () => false,
): { live: number; besideAbandoned: number } {
  let live = 0;
  let besideAbandoned = 0;
  for (const list of writesByConnection(requests, unawaited).values()) {
    for (let j = 1; j < list.length; j++) {
      const w = list[j]!;
      const open = list.slice(0, j).filter((p) => p.end > w.start);
      if (open.length === 0) continue;
      if (w.unawaited || open.every((p) => p.unawaited)) besideAbandoned++;
      else live++;
    }
  }
  return { live, besideAbandoned };
}
