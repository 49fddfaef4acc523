/**
 * Who sent each request to Nango, and whether anyone was still waiting for it. The local event source
 * calls `crashAfter` at the start of every invocation, in the invocation's async context, so a stage
 * marks its context there; undici announces every request it creates on its diagnostics channel, in
 * the caller's context, and lets a subscriber add a header (as tracing does). Each request to Nango
 * is tagged `x-chaos-request: <stage>/<invocation>/<n>`, which the stand-in records. So the run proves
 * that apply reads from Nango only to look up a webhook's connection, and tells writes nobody waited for (the client gave up at its
 * timeout, or the invocation was past its own and Lambda would have stopped it) from real overlaps,
 * without touching the functions.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';

export const TAG_HEADER = 'x-chaos-request';

interface Store {
  stage: string;
  invocation: number;
}

interface UndiciRequest {
  origin?: unknown;
  method?: string;
  path?: string;
  addHeader?: (key: string, value: string) => unknown;
}

/** Per stage: GETs, of which list calls for one connection id (apply's seed lookups), and the rest. */
export interface CallCounts {
  get: number;
  lookups: number;
  other: number;
}

export interface NangoCalls {
  /** Marks the current async context (the invocation about to run) as this stage's. */
  enter(stage: string, invocation: number): void;
  /** The invocation was abandoned (timed out or crashed) at this time: its later requests have no one waiting. */
  abandon(stage: string, invocation: number, at: number): void;
  counts(): Record<string, CallCounts>;
  /** Whether nobody waited for the answer of the request with this tag, open until `endedAt`. */
  unawaited(tag: string | undefined, endedAt: number | undefined): boolean;
  /** Whether the invocation that sent the request with this tag died (timed out or crashed), at any time. */
  died(tag: string | undefined): boolean;
  /** Whether the request was sent after its invocation died: Lambda would have stopped it first. */
  sentDead(tag: string | undefined, startedAt: number): boolean;
  stop(): void;
}

/** The list endpoint filtered to one connection id: what a seed lookup asks. */
function isLookup(path: string): boolean {
  const [route, query] = path.split('?', 2);
  return route === '/connections' && new URLSearchParams(query ?? '').has('connectionId');
}

export function trackNangoCalls(nangoOrigin: () => string | undefined): NangoCalls {
  const als = new AsyncLocalStorage<Store>();
  const counts: Record<string, CallCounts> = {};
  const tags = new WeakMap<object, string>();
  const gaveUp = new Set<string>();
  const abandonedAt = new Map<string, number>();
  let seq = 0;
  const ours = (req: UndiciRequest | undefined): req is UndiciRequest =>
    !!req && nangoOrigin() !== undefined && String(req.origin) === nangoOrigin();

  const onCreate = (message: unknown) => {
    const req = (message as { request?: UndiciRequest }).request;
    if (!ours(req)) return;
    const store = als.getStore();
    const stage = store?.stage ?? 'other';
    const c = (counts[stage] ??= { get: 0, lookups: 0, other: 0 });
    if (req.method === 'GET') c.get++;
    if (req.method === 'GET' && isLookup(String(req.path))) c.lookups++;
    else c.other++;
    const tag = `${stage}/${store?.invocation ?? 0}/${++seq}`;
    tags.set(req, tag);
    req.addHeader?.(TAG_HEADER, tag);
  };
  // An error after the request was sent: the client stopped waiting (its timeout, a reset, the deadline).
  const onError = (message: unknown) => {
    const req = (message as { request?: UndiciRequest }).request;
    const tag = req ? tags.get(req) : undefined;
    if (tag) gaveUp.add(tag);
  };
  diagnostics.subscribe('undici:request:create', onCreate);
  diagnostics.subscribe('undici:request:error', onError);
  return {
    enter: (stage, invocation) => als.enterWith({ stage, invocation }),
    abandon: (stage, invocation, at) => abandonedAt.set(`${stage}/${invocation}`, at),
    counts: () => structuredClone(counts),
    unawaited(tag, endedAt) {
      if (!tag) return false;
      if (gaveUp.has(tag)) return true;
      const at = abandonedAt.get(tag.slice(0, tag.lastIndexOf('/')));
      return at !== undefined && at <= (endedAt ?? Number.POSITIVE_INFINITY);
    },
    died: (tag) => tag !== undefined && abandonedAt.has(tag.slice(0, tag.lastIndexOf('/'))),
    sentDead(tag, startedAt) {
      const at = tag === undefined ? undefined : abandonedAt.get(tag.slice(0, tag.lastIndexOf('/')));
      return at !== undefined && at <= startedAt;
    },
    stop: () => {
      diagnostics.unsubscribe('undici:request:create', onCreate);
      diagnostics.unsubscribe('undici:request:error', onError);
    },
  };
}
