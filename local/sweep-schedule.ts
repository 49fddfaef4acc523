/**
 * The sweep's ticks for local runs: one on demand (`sweep()`), or a schedule as the deployed
 * EventBridge rule runs it (a tick every minute) with its minute scaled: a tick now, then one every
 * `everyMs`, each told the period so a run due within half a tick starts on it. A tick still running
 * when the next is due makes that one wait its turn (the run's lease would make it a no-op anyway).
 */
import type { Context } from 'aws-lambda';
import { makeContext } from './lambda-shapes.ts';

type TickHandler = (event: { sweep: 'tick' | 'repair'; tickSeconds?: number }, context: Context) => Promise<unknown>;

export function sweepTicks(handler: TickHandler) {
  const context = () => makeContext('nango-metadata-sync-sweep', 'us-east-1', 60_000);
  return {
    /** One tick (`repair`: the daily one): starts or resumes a run. */
    sweep: async (repair = false) => (await handler({ sweep: repair ? 'repair' : 'tick' }, context())) as Record<string, unknown>,
    /** Ticks every `everyMs` until the returned function is called (it waits for a tick under way). */
    schedule: (everyMs: number): (() => Promise<void>) => {
      let running: Promise<unknown> = Promise.resolve();
      let stopped = false;
      const fire = () => {
        running = running.then(() =>
          stopped ? undefined : handler({ sweep: 'tick', tickSeconds: everyMs / 1_000 }, context()).catch(() => undefined),
        );
      };
      fire();
      const timer = setInterval(fire, everyMs);
      return async () => {
        stopped = true;
        clearInterval(timer);
        await running;
      };
    },
  };
}
