/**
 * The peer: what a user would otherwise write — one Lambda on the ingress queue that maps each event
 * with the same catalog and calls the official SDK's `updateMetadata` for each target connection.
 * `sequential`: one call at a time, in arrival order. `parallel`: every call of the batch at once
 * (Promise.all), which is where Nango loses updates to the same connection.
 *
 * Charitable on purpose: `'all'` targets are resolved with the SDK's listConnections and cached per
 * container (as our route stage does), and failed records are reported as partial batch failures.
 */
import { Nango } from '@nangohq/node';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { catalog, indexCatalog } from '#events/catalog';
import { eventKey, type MetadataPatch, type TargetSpec } from '#events/define';

export type PeerMode = 'sequential' | 'parallel';

interface Call {
  recordId: string;
  connectionId: string;
  providerConfigKey: string;
  patch: MetadataPatch;
}

export function createSdkConsumer(mode: PeerMode): (event: SQSEvent) => Promise<SQSBatchResponse> {
  const index = indexCatalog(catalog);
  const integrations = new Map<string, Promise<string[]>>();
  let nango: Nango | undefined;
  const client = () => {
    const secretKey = process.env.NANGO_SECRET_KEY;
    if (!secretKey) throw new Error('set NANGO_SECRET_KEY');
    return (nango ??= new Nango({ host: process.env.NANGO_HOST ?? 'https://api.nango.dev', secretKey }));
  };
  const integrationsOf = (connectionId: string): Promise<string[]> => {
    let p = integrations.get(connectionId);
    if (!p) {
      p = client()
        .listConnections({ connectionId })
        .then((r) => r.connections.filter((c) => c.connection_id === connectionId).map((c) => c.provider_config_key));
      p.catch(() => integrations.delete(connectionId));
      integrations.set(connectionId, p);
    }
    return p;
  };

  const callsOf = async (recordId: string, body: string): Promise<Call[]> => {
    const e = JSON.parse(body) as { source: string; 'detail-type': string; detail: unknown };
    const def = index.get(eventKey(e.source, e['detail-type']));
    if (!def) return [];
    const detail = def.detail.parse(e.detail);
    const t = def.targets(detail);
    const specs = (Array.isArray(t) ? t : [t]) as TargetSpec[];
    const patch = def.patch(detail);
    const calls: Call[] = [];
    for (const s of specs) {
      const keys = s.integrations === 'all' ? await integrationsOf(s.connectionId) : s.integrations;
      for (const providerConfigKey of keys) calls.push({ recordId, connectionId: s.connectionId, providerConfigKey, patch });
    }
    return calls;
  };
  const update = (c: Call) => client().updateMetadata(c.providerConfigKey, c.connectionId, c.patch);

  return async (event) => {
    const failed = new Set<string>();
    if (mode === 'sequential') {
      for (const r of event.Records) {
        try {
          for (const c of await callsOf(r.messageId, r.body)) await update(c);
        } catch {
          failed.add(r.messageId);
        }
      }
    } else {
      await Promise.all(
        event.Records.map(async (r) => {
          try {
            await Promise.all((await callsOf(r.messageId, r.body)).map(update));
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
