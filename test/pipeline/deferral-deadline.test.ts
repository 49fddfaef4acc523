/**
 * A deferral rests on a message that exists. The first change of a customer is routed without fault
 * and its sync is queued; before apply sees that sync, a rewrite of the same key is stored and its
 * record is then parked in the ingress DLQ (the list lookup refused with 403, 503 until the retries
 * are spent, the sync send refused), so the rewrite's own sync never exists; in one case the ingress
 * DLQ is then purged. Apply leaves the first sync's keys to "a later sync" all the same (the rewrite
 * is newer than its queue time), so the only thing that can bring them to Nango is the deadline apply
 * queued when it deferred. Every key route wrote must be at Nango once the queues drain.
 *
 * The sync queue delays its messages 2 s here so apply is behind route, as in a backlog: that is
 * what makes apply defer.
 */
import { randomUUID } from 'node:crypto';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueCounts } from '../../local/event-source.ts';
import { startLocalPipeline, type LocalPipeline } from '../../local/pipeline.ts';
import type { FaultHook } from '../../local/standins/nango.ts';
import { isoIn, seatsChanged } from '../support/events.ts';
import { burstConnections } from './burst.ts';

const MAX_DEFER_SECONDS = 3;
const CASES = ['lookup 403', 'lookup 503 past retries', 'sync send refused', 'lookup 403, ingress DLQ purged'] as const;
const orgOf = (i: number) => `parked-${i}`;
const CONNECTIONS = CASES.flatMap((_, i) => burstConnections(orgOf(i), 100 + i));

let p: LocalPipeline;
beforeAll(async () => {
  p = await startLocalPipeline({
    nangoSecretKey: randomUUID(),
    connections: CONNECTIONS,
    route: { batchSize: 1, functionTimeoutMs: 3_000 },
    maxReceiveCount: 2,
    ingressVisibilitySeconds: 3,
    syncDeliveryDelaySeconds: 2,
    // Every event lists its subject's connections, so a lookup fault reaches the rewrite.
    env: { APPLY_MAX_DEFER_SECONDS: String(MAX_DEFER_SECONDS), INDEX_TTL_SECONDS: '0' },
  });
});
afterAll(() => p?.stop());

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (await check()) return;
  throw new Error(`timed out waiting for ${what}`);
}

const listing: (status: number) => FaultHook = (status) => (req) =>
  req.method === 'GET' && req.path === '/connections'
    ? { kind: 'status', status, code: status === 403 ? 'forbidden' : 'unavailable' }
    : undefined;

/** Keys the state holds for the subject that Nango lacks (or holds with another value), per connection. */
async function missingAtNango(org: string): Promise<string[]> {
  const desired = await p.state.readDesired(`tags:organization_id=${org}`);
  const missing: string[] = [];
  for (const c of CONNECTIONS.filter((x) => x.tags?.organization_id === org)) {
    const held = (await p.metadataOf(c.connectionId, c.providerConfigKey)) ?? {};
    for (const k of desired) if (JSON.stringify(held[k.key]) !== JSON.stringify(k.value)) missing.push(`${c.providerConfigKey}:${k.key}`);
  }
  return missing;
}

describe('a rewrite parked after its state write', () => {
  it.each(CASES.map((name, i) => [name, i] as const))(
    '%s: no routed key is left unsent',
    async (name, i) => {
      const org = orgOf(i);
      await p.send([seatsChanged(org, 1, isoIn(-60_000))]);
      // The first change's sync is queued (and delayed): apply has not seen it yet.
      await until('the first sync', async () => (await queueCounts(p.sqs, p.queues.syncUrl)).delayed > 0);

      const rewriteId = `rewrite-${i}-${randomUUID()}`;
      if (name === 'sync send refused') {
        p.refuseSqs((r) => r.action === 'SendMessageBatch' && r.queueName.startsWith('sync') && r.body.includes(rewriteId));
      } else p.nango!.setFault(listing(name.includes('503') ? 503 : 403));
      try {
        await p.send([seatsChanged(org, 2, isoIn(-30_000), { id: rewriteId })]);
        await until('the rewrite parked', async () => (await p.dlq()).some((d) => d.queue === 'ingress-dlq' && d.body.includes(rewriteId)));
      } finally {
        p.refuseSqs(undefined);
        p.nango!.setFault(undefined);
      }
      // The rewrite was stored before it was parked: it is the state to reach Nango.
      expect((await p.state.readDesired(`tags:organization_id=${org}`)).find((k) => k.key === 'seats')?.value).toBe(2);
      if (name.includes('purged')) await p.sqs.send(new PurgeQueueCommand({ QueueUrl: p.queues.ingressDlqUrl }));

      const from = Date.now();
      await p.drain({ quietMs: 500, timeoutMs: 30_000 });
      expect(await missingAtNango(org)).toEqual([]);
      // Within the deferral bound plus a visibility timeout (and the harness's polling).
      expect(Date.now() - from).toBeLessThan((MAX_DEFER_SECONDS + 3 + 5) * 1000);
    },
    60_000,
  );
});
