/**
 * Resolves an event's TargetSpec list into concrete (connection, integration) pairs. `'all'` asks
 * Nango which integrations have a connection with this id; answers are cached briefly per warm
 * container (a new integration shows up within the TTL) and concurrent misses share one request.
 */
import type { TargetSpec } from '#events/define';
import type { NangoPort } from './nango/port.ts';
import type { Target } from './patch-message.ts';

export class TargetResolver {
  private readonly cache = new Map<string, { at: number; value: Promise<string[]> }>();

  constructor(
    private readonly nango: Pick<NangoPort, 'listIntegrations'>,
    private readonly ttlMs: number,
    private readonly now = Date.now,
  ) {}

  async resolve(specs: readonly TargetSpec[], deadline: number): Promise<Target[]> {
    const out: Target[] = [];
    const seen = new Set<string>();
    for (const spec of specs) {
      const keys = spec.integrations === 'all' ? await this.integrationsOf(spec.connectionId, deadline) : spec.integrations;
      for (const providerConfigKey of keys) {
        const id = `${providerConfigKey}\n${spec.connectionId}`;
        if (seen.has(id)) continue;
        seen.add(id);
        out.push({ connectionId: spec.connectionId, providerConfigKey });
      }
    }
    return out;
  }

  private integrationsOf(connectionId: string, deadline: number): Promise<string[]> {
    const hit = this.cache.get(connectionId);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.value;
    const value = this.nango.listIntegrations(connectionId, { deadline });
    this.cache.set(connectionId, { at: this.now(), value });
    // A failure is not cached: the next event asks again.
    value.catch(() => this.cache.get(connectionId)?.value === value && this.cache.delete(connectionId));
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value as string);
    return value;
  }
}
