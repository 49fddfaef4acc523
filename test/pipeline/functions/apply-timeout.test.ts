/**
 * A PATCH that timed out may still run at Nango, which reads then writes: apply must not send a
 * second one right away (the two could interleave and lose keys). It hands the sync back to SQS, and
 * the next PATCH goes only after the queue's visibility timeout. Real handlers, local pipeline.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalPipeline, startLocalPipeline } from '../../../local/pipeline.ts';
import { planChanged } from '../../support/events.ts';

const CONN = { connectionId: randomUUID(), providerConfigKey: 'salesforce', tags: { organization_id: 'slowco' } };

describe('apply after a PATCH timed out', () => {
  let p: LocalPipeline;
  beforeAll(async () => {
    p = await startLocalPipeline({
      connections: [CONN],
      apply: { functionTimeoutMs: 3_000 },
      env: { NANGO_TIMEOUT_MS: '300' },
    });
    let patches = 0;
    // The first PATCH is answered only after the client gave up on it (and is not applied).
    p.nango!.setFault((r) => (r.method === 'PATCH' && ++patches === 1 ? { kind: 'delay', ms: 1_000 } : undefined));
  }, 60_000);
  afterAll(() => p?.stop());

  it('hands the sync back instead of retrying at once, and applies it on the next delivery', async () => {
    await p.send([planChanged('slowco', 'pro', '2026-11-20T09:00:00.000Z', { id: 'slow-1' })]);
    await p.drain({ timeoutMs: 30_000 });
    const patches = p.nango!.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(2);
    // The second PATCH waited for the sync queue's visibility (3 s here), not an in-process backoff.
    expect(patches[1]!.startedAt - patches[0]!.startedAt).toBeGreaterThanOrEqual(2_500);
    expect(p.nango!.metadataOf(CONN.connectionId, 'salesforce')).toMatchObject({ plan: 'pro' });
    expect(await p.dlq()).toEqual([]);
  }, 60_000);
});
