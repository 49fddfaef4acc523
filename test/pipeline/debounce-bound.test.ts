/**
 * A customer whose state never stops changing is still PATCHed while it changes: apply leaves keys
 * to a later sync for at most APPLY_MAX_DEFER_SECONDS after the oldest of them was written.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import { burstConnections, sendBurst } from './burst.ts';

const C = burstConnections('busy', 0);
let p: LocalPipeline;

beforeAll(async () => {
  p = await startLocalPipeline({
    nangoSecretKey: randomUUID(),
    connections: C,
    route: { batchSize: 1 },
    syncDeliveryDelaySeconds: 2,
    env: { APPLY_MAX_DEFER_SECONDS: '1' },
  });
});
afterAll(() => p?.stop());

it('keys that waited APPLY_MAX_DEFER_SECONDS are sent though newer changes keep coming', async () => {
  const r = await sendBurst(p, 'busy', C, { changes: 20, everyMs: 200 });
  expect(r.patches.length).toBeGreaterThan(C.length);
  expect(Math.min(...r.patches.map((x) => x.startedAt))).toBeLessThan(r.lastSentAt);
}, 60_000);
