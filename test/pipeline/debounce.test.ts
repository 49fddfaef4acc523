/**
 * A burst of one customer's changes reaches Nango as one PATCH per connection while apply is behind
 * route (as in a backlog; here the sync queue holds each sync 2 s to make it so): apply leaves to the
 * latest sync what was rewritten after an earlier one was queued. When apply keeps up (no delay, the
 * construct's default) the burst still folds: the first change, isolated, is sent at once, and once
 * changes keep coming apply waits for them to settle (a settle sync a second later) instead of
 * sending each. (The bound on how long keys wait is in debounce-bound.test.ts: the handlers keep
 * their first configuration, so it needs a pipeline of its own.)
 */
import { randomUUID } from 'node:crypto';
import { SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import { burstConnections, sendBurst } from './burst.ts';

const KEY = randomUUID();
const A = burstConnections('burst-a', 0);
const B = burstConnections('burst-b', 1);
let p: LocalPipeline;

beforeAll(async () => {
  p = await startLocalPipeline({
    nangoSecretKey: KEY,
    connections: [...A, ...B],
    // One event per route invocation: each change queues its own syncs.
    route: { batchSize: 1 },
    syncDeliveryDelaySeconds: 2,
    // Each wait's deadline is delayed this long; the drain waits for it.
    env: { APPLY_MAX_DEFER_SECONDS: '10' },
  });
});
afterAll(() => p?.stop());

describe("a burst of one customer's changes", () => {
  it('apply behind route: one PATCH per connection, with the last value', async () => {
    const r = await sendBurst(p, 'burst-a', A, { changes: 8, everyMs: 150 });
    expect(r.patches).toHaveLength(A.length);
    expect(r.patches.map((x) => (x.body as { metadata: { seats: number } }).metadata.seats)).toEqual([8, 8]);
  }, 60_000);

  it('apply keeping up (no delay): the first change at once, the rest folded into one PATCH per connection', async () => {
    await p.sqs.send(new SetQueueAttributesCommand({ QueueUrl: p.queues.syncUrl, Attributes: { DelaySeconds: '0' } }));
    const r = await sendBurst(p, 'burst-b', B, { changes: 8, everyMs: 150 });
    expect(r.patches.length).toBeGreaterThanOrEqual(B.length);
    expect(r.patches.length).toBeLessThanOrEqual(B.length * 2);
    // Each connection's last PATCH carries the last value (sendBurst checks the final metadata too).
    for (const c of B) {
      const last = r.patches.filter((x) => (x.body as { connection_id: string }).connection_id === c.connectionId).at(-1);
      expect((last!.body as { metadata: { seats: number } }).metadata.seats).toBe(8);
    }
  }, 60_000);
});
