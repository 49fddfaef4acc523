/**
 * The peer: what a user would otherwise write. One Lambda on the ingress queue maps each event with
 * the same catalog, finds the subject's connections with the official SDK's listConnections (by
 * tags) and calls updateMetadata once per connection in scope. `sequential`: one call at a time, in
 * arrival order. `parallel`: every call of the batch at once (Promise.all), which is where Nango loses
 * updates to one connection. Neither keeps versions: the last write to arrive wins.
 *
 * Charitable on purpose: a subject's connections are listed once per container and cached, and
 * failed records are reported as partial batch failures.
 */
import { Nango } from '@nangohq/node';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { catalog, indexCatalog } from '#events/catalog';
import { eventKey, type MetadataPatch } from '#events/define';

export type PeerMode = 'sequential' | 'parallel';

interface Call {
  connectionId: string;
  providerConfigKey: string;
  patch: MetadataPatch;
}

export function createSdkConsumer(mode: PeerMode): (event: SQSEvent) => Promise<SQSBatchResponse> {
  const index = indexCatalog(catalog);
  const cache = new Map<string, Promise<{ connectionId: string; providerConfigKey: string }[]>>();
  let nango: Nango | undefined;
  const client = () => {
    const secretKey = process.env.NANGO_SECRET_KEY;
    if (!secretKey) throw new Error('set NANGO_SECRET_KEY');
    return (nango ??= new Nango({ host: process.env.NANGO_HOST ?? 'https://api.nango.dev', secretKey }));
  };
  const connectionsOf = (tags: Record<string, string>) => {
    const key = JSON.stringify(tags);
    let p = cache.get(key);
    if (!p) {
      p = client()
        .listConnections({ tags })
        .then((r) => r.connections.map((c) => ({ connectionId: c.connection_id, providerConfigKey: c.provider_config_key })));
      p.catch(() => cache.delete(key));
      cache.set(key, p);
    }
    return p;
  };

  const callsOf = async (body: string): Promise<Call[]> => {
    const e = JSON.parse(body) as { source: string; 'detail-type': string; detail: unknown };
    const def = index.get(eventKey(e.source, e['detail-type']));
    if (!def) return [];
    const d = def.detail.parse(e.detail);
    const s = def.subject;
    const integrations = typeof s.integrations === 'function' ? s.integrations(d) : s.integrations;
    const all =
      s.by === 'tags'
        ? await connectionsOf(s.tags(d))
        : (await client().listConnections({ connectionId: s.connectionId(d) })).connections.map((c) => ({
            connectionId: c.connection_id,
            providerConfigKey: c.provider_config_key,
          }));
    const patch = def.patch(d);
    return all.filter((c) => integrations === 'all' || integrations.includes(c.providerConfigKey)).map((c) => ({ ...c, patch }));
  };
  const update = (c: Call) => client().updateMetadata(c.providerConfigKey, c.connectionId, c.patch);

  return async (event) => {
    const failed = new Set<string>();
    if (mode === 'sequential') {
      for (const r of event.Records) {
        try {
          for (const c of await callsOf(r.body)) await update(c);
        } catch {
          failed.add(r.messageId);
        }
      }
    } else {
      await Promise.all(
        event.Records.map(async (r) => {
          try {
            await Promise.all((await callsOf(r.body)).map(update));
          } catch {
            failed.add(r.messageId);
          }
        }),
      );
    }
    return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

/** The bundled entry (cold start): mode from PEER_MODE. */
export const handler = createSdkConsumer(process.env.PEER_MODE === 'parallel' ? 'parallel' : 'sequential');
