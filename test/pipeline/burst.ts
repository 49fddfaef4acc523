/** A burst of seats changes for one customer, sent one event at a time, and the PATCHes it caused. */
import { expect } from 'vitest';
import type { LocalPipeline } from '../../local/pipeline.ts';
import type { SeedConnection } from '../../local/standins/nango.ts';
import { isoIn, seatsChanged } from '../support/events.ts';

export const burstConnections = (organizationId: string, n: number): SeedConnection[] =>
  ['salesforce', 'hubspot'].map((pck, i) => ({
    connectionId: `7a6b5c4d-2e3f-4a1b-9c8d-${String(n * 10 + i).padStart(12, '0')}`,
    providerConfigKey: pck,
    provider: pck,
    tags: { organization_id: organizationId },
  }));

export async function sendBurst(
  p: LocalPipeline,
  organizationId: string,
  connections: readonly SeedConnection[],
  o: { changes: number; everyMs: number },
) {
  const from = p.nango!.requests.length;
  let lastSentAt = 0;
  for (let i = 1; i <= o.changes; i++) {
    await p.send([seatsChanged(organizationId, i, isoIn(-60_000 + i))]);
    lastSentAt = Date.now();
    await new Promise((r) => setTimeout(r, o.everyMs));
  }
  await p.drain({ quietMs: 300, timeoutMs: 60_000 });
  for (const c of connections) expect(await p.metadataOf(c.connectionId, c.providerConfigKey)).toMatchObject({ seats: o.changes });
  const ids = new Set(connections.map((c) => c.connectionId));
  const patches = p
    .nango!.requests.slice(from)
    .filter((r) => r.method === 'PATCH' && ids.has(String((r.body as { connection_id?: unknown } | undefined)?.connection_id)));
  return { patches, lastSentAt };
}
