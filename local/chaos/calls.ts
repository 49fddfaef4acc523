/**
 * Which stage sent each request to Nango: the local event source calls `crashAfter` at the start of
 * every invocation, in the invocation's async context, so a stage can mark its context there; undici
 * announces every request it creates on its diagnostics channel, in the caller's context. This is how
 * the run proves that apply never reads from Nango without touching the functions.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';

export interface NangoCalls {
  /** Marks the current async context (the invocation about to run) as this stage's. */
  enter(stage: string): void;
  counts(): Record<string, { get: number; other: number }>;
  /** Writes the client gave up on (its timeout, the invocation's deadline): the connection and when. */
  abandoned(): AbandonedWrite[];
  stop(): void;
}

export interface AbandonedWrite {
  /** `${providerConfigKey}\u0000${connectionId}`, as the overlap check keys writes. */
  key: string;
  at: number;
}

export function trackNangoCalls(nangoOrigin: () => string | undefined): NangoCalls {
  const als = new AsyncLocalStorage<string>();
  const counts: Record<string, { get: number; other: number }> = {};
  const onCreate = (message: unknown) => {
    const req = (message as { request?: { origin?: unknown; method?: string } }).request;
    const origin = nangoOrigin();
    if (!req || origin === undefined || String(req.origin) !== origin) return;
    const stage = als.getStore() ?? 'other';
    const c = (counts[stage] ??= { get: 0, other: 0 });
    if (req.method === 'GET') c.get++;
    else c.other++;
  };
  const abandoned: AbandonedWrite[] = [];
  const onError = (message: unknown) => {
    const req = (message as { request?: { origin?: unknown; method?: string; body?: unknown } }).request;
    if (!req || String(req.origin) !== nangoOrigin() || (req.method !== 'PATCH' && req.method !== 'POST')) return;
    const key = writeKey(req.body);
    if (key !== undefined) abandoned.push({ key, at: Date.now() });
  };
  diagnostics.subscribe('undici:request:create', onCreate);
  diagnostics.subscribe('undici:request:error', onError);
  return {
    enter: (stage) => als.enterWith(stage),
    counts: () => structuredClone(counts),
    abandoned: () => [...abandoned],
    stop: () => {
      diagnostics.unsubscribe('undici:request:create', onCreate);
      diagnostics.unsubscribe('undici:request:error', onError);
    },
  };
}

function writeKey(body: unknown): string | undefined {
  const text = typeof body === 'string' ? body : body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : undefined;
  if (text === undefined) return undefined;
  try {
    const b = JSON.parse(text) as { connection_id?: unknown; provider_config_key?: unknown };
    return typeof b.connection_id === 'string' && typeof b.provider_config_key === 'string'
      ? `${b.provider_config_key}\u0000${b.connection_id}`
      : undefined;
  } catch {
    return undefined;
  }
}
