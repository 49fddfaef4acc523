/**
 * A Nango HTTP API stand-in on 127.0.0.1, faithful to what a real server (0.71.x) does: auth codes,
 * the current and legacy metadata routes with their quirks, GET /connections with tag, id and
 * integration filters and 0-based paging, POST /connections (import) with tags, signed auth webhooks,
 * the per-account fixed-window rate limit with its rounded-down headers, the 75 MB body limit. On
 * top of that it records every request (key redacted), counts concurrent writes per connection (the
 * lost-update hazard), can lose updates like the real server (`raceMode`), injects faults that never
 * apply the write, and offers a test-side admin API for what happens outside the API (Connect UI,
 * dashboard edits, re-authorisation).
 */
import { parseTags } from './nango/wire.ts';
import { listenOnLoopback } from './loopback-server.ts';
import { handle } from './nango/handler.ts';
import { requireKey, StandinState } from './nango/state.ts';
import { listedJson } from './nango/store.ts';
import type { NangoStandin, NangoStandinOptions } from './nango/types.ts';

export type { Fault, FaultHook, FaultRequest, ProbabilityPlan } from './nango/faults.ts';
export { firstFault, probabilityFaults } from './nango/faults.ts';
export type {
  AdminAction,
  AppliedWrite,
  ListedStandinConnection,
  NangoStandin,
  NangoStandinOptions,
  NangoStandinStats,
  RecordedRequest,
  SeedConnection,
} from './nango/types.ts';
export type { AuthWebhookBody, WebhookDelivery, WebhookOptions } from './nango/webhooks.ts';

export async function startNangoStandin(opts: NangoStandinOptions): Promise<NangoStandin> {
  const st = new StandinState(opts);
  const loopback = await listenOnLoopback((req, res) => {
    handle(st, req, res).catch((err: unknown) => {
      // A stand-in bug must be loud in the test, never a hung request.
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(599, { 'Content-Type': 'text/plain' });
        res.end(`nango stand-in crashed: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  });
  const existing = (connectionId: string, providerConfigKey: string) => {
    const c = st.store.get(connectionId, providerConfigKey);
    if (!c) throw new Error(`Nango stand-in: no connection ${JSON.stringify(connectionId)} for ${JSON.stringify(providerConfigKey)}`);
    return c;
  };

  return {
    url: loopback.url,
    requests: st.requests,
    async close() {
      if (st.closed) return;
      await st.close();
      await loopback.close();
    },
    setSecretKey(k) {
      st.secretKey = requireKey(k);
    },
    addConnection(c) {
      st.store.put(c);
    },
    removeConnection(connectionId, pck) {
      st.store.delete(connectionId, pck);
    },
    metadataOf(connectionId, pck) {
      const c = st.store.get(connectionId, pck);
      if (!c) return undefined;
      return c.metadata === null ? null : structuredClone(c.metadata);
    },
    connections() {
      return st.store.all().map((c) => ({
        connectionId: c.connectionId,
        providerConfigKey: c.providerConfigKey,
        provider: c.provider,
        metadata: c.metadata === null ? null : structuredClone(c.metadata),
        tags: { ...c.tags },
        created: c.created,
      }));
    },
    createConnection(c) {
      if (st.store.get(c.connectionId, c.providerConfigKey)) {
        throw new Error(`Nango stand-in: connection ${JSON.stringify(c.connectionId)} for ${JSON.stringify(c.providerConfigKey)} exists`);
      }
      return listedJson(st.create(c));
    },
    setMetadataBehindOurBack(connectionId, pck, metadata) {
      const c = existing(connectionId, pck);
      c.metadata = metadata === null ? null : structuredClone(metadata);
      c.updated = new Date().toISOString();
      st.admin.push({ at: Date.now(), action: 'setMetadataBehindOurBack', connectionId, providerConfigKey: pck, metadata: c.metadata });
    },
    retag(connectionId, pck, tags) {
      const c = existing(connectionId, pck);
      const parsed = parseTags(tags);
      if (!parsed.ok) throw new Error(`Nango stand-in: invalid tags for ${connectionId}: ${parsed.message}`);
      c.tags = parsed.value;
      c.updated = new Date().toISOString();
      st.admin.push({ at: Date.now(), action: 'retag', connectionId, providerConfigKey: pck, tags: { ...c.tags } });
    },
    reauthorize(connectionId, pck) {
      const c = existing(connectionId, pck);
      st.admin.push({ at: Date.now(), action: 'reauthorize', connectionId, providerConfigKey: pck });
      st.authWebhook(c, 'override');
    },
    adminActions: () => structuredClone(st.admin),
    webhookDeliveries: () => st.webhooks?.list() ?? [],
    webhooksSettled: async () => st.webhooks?.settled(),
    setFault(hook) {
      st.faultHook = hook;
    },
    setLatency(ms) {
      st.latencyMs = ms;
    },
    stats: () => ({ ...st.counters, byStatus: { ...st.counters.byStatus } }),
    applyHistory: (connectionId, pck) => st.store.historyOf(connectionId, pck),
    reset: () => st.reset(),
  };
}
