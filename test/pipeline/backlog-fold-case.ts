/**
 * The backlog-fold case, run by backlog-fold.test.ts and backlog-fold-no-window.test.ts (one local
 * pipeline per process). A backlog (every customer's changes arriving at once, as after an outage)
 * reaches Nango as one PATCH per connection, with the sync queue undelayed (the construct's default)
 * and route's event source shaped by the caller. Route queues a sync per connection and batch;
 * apply leaves each to the next while the customer's changes keep coming, and a settle sync sends
 * them once they stop. PATCHes are counted at the Nango stand-in, after the queues drained
 * (deadlines included).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import { isoIn, planChanged, seatsChanged, statusChanged } from '../support/events.ts';
import { burstConnections } from './burst.ts';

const ORGS = Array.from({ length: 8 }, (_, i) => `backlog-${i}`);
export const CONNECTIONS = ORGS.flatMap((o, i) => burstConnections(o, 200 + i));
const CHANGES = 12;
/**
 * Two changes per customer at a time, 700 ms apart: apply keeps up with route, so a sync rarely finds
 * its customer's next change already stored (which alone would fold them), yet the changes keep coming.
 */
const CHUNK = 16;
const CHUNK_EVERY_MS = 700;
const PLANS = ['free', 'starter', 'pro', 'enterprise'];
const STATUSES = ['active', 'suspended'];
/**
 * Registers the case on a pipeline whose route event source is `route`; `minSingles`: how many
 * connections must get exactly one PATCH.
 */
export function backlogFoldCase(route: { batchSize: number; maxBatchingWindowMs: number; concurrency: number }, minSingles: number): void {
  let p: LocalPipeline;

  beforeAll(async () => {
    p = await startLocalPipeline({
      nangoSecretKey: randomUUID(),
      connections: CONNECTIONS,
      route,
      apply: { batchSize: 10, concurrency: 2 },
      // Short, so the drain (which waits for the delayed deadlines) ends soon.
      env: { APPLY_MAX_DEFER_SECONDS: '10' },
    });
  });
  afterAll(() => p?.stop());

  it('a backlog of every customer folds to one PATCH per connection, with the last values', async () => {
    // Customers interleaved, each change newer than the last: plan, seats and status in turn.
    const events = [];
    for (let i = 1; i <= CHANGES; i++)
      for (const org of ORGS) {
        const at = isoIn(-600_000 + i * 1_000);
        const kind = i % 3;
        if (kind === 0) events.push(planChanged(org, PLANS[i % PLANS.length]!, at));
        else if (kind === 1) events.push(seatsChanged(org, i, at));
        else events.push(statusChanged(org, STATUSES[i % STATUSES.length]!, { changedAt: at }));
      }
    const from = p.nango!.requests.length;
    // Arriving over a few seconds, as a backlog reaches the ingress queue through EventBridge: route
    // works on it in waves, and apply sees a customer's first syncs long before its last changes.
    for (let i = 0; i < events.length; i += CHUNK) {
      await p.send(events.slice(i, i + CHUNK));
      await new Promise((r) => setTimeout(r, CHUNK_EVERY_MS));
    }
    await p.drain({ quietMs: 500, timeoutMs: 60_000 });

    const patches = p.nango!.requests.slice(from).filter((r) => r.method === 'PATCH');
    const perConnection = new Map<string, number>();
    for (const r of patches) {
      const id = String((r.body as { connection_id?: unknown }).connection_id);
      perConnection.set(id, (perConnection.get(id) ?? 0) + 1);
    }
    expect([...perConnection.keys()].sort()).toEqual(CONNECTIONS.map((c) => c.connectionId).sort());
    // A customer's first change goes at once when apply finds it alone (an isolated change is never
    // held back, for latency): route may split the first chunk (on a loaded machine with a window,
    // often without one), so that change is a PATCH of its own. Everything after it folds: at most
    // one more per connection, and with a window most connections get exactly one. (Without the
    // debounce every wave is a PATCH: 3 or more.)
    const counts = [...perConnection.values()];
    expect(Math.max(...counts), `PATCHes per connection: ${counts.join(' ')}`).toBeLessThanOrEqual(2);
    expect(counts.filter((n) => n === 1).length, `PATCHes per connection: ${counts.join(' ')}`).toBeGreaterThanOrEqual(minSingles);
    const last = (kind: number) => CHANGES - ((CHANGES - kind + 3) % 3);
    for (const c of CONNECTIONS)
      expect(await p.metadataOf(c.connectionId, c.providerConfigKey)).toMatchObject({
        plan: PLANS[last(0) % PLANS.length],
        seats: last(1),
        status: STATUSES[last(2) % STATUSES.length],
      });
    expect(await p.dlq()).toEqual([]);
  }, 120_000);
}
