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
  stop(): void;
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
  diagnostics.subscribe('undici:request:create', onCreate);
  return {
    enter: (stage) => als.enterWith(stage),
    counts: () => structuredClone(counts),
    stop: () => diagnostics.unsubscribe('undici:request:create', onCreate),
  };
}
