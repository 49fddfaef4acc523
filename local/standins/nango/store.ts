/**
 * The stand-in's connections: numeric ids as Nango gives them, tags (validated and lowercased as
 * Nango does), creation times, metadata, and the history of writes applied to each.
 */
import { nangoTime, parseTags } from './wire.ts';
import type { AppliedWrite, ListedStandinConnection, Metadata, SeedConnection } from './types.ts';

export interface StoredConnection {
  id: number;
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  metadata: Metadata | null;
  tags: Record<string, string>;
  created: string;
  updated: string;
}

export const keyOf = (connectionId: string, providerConfigKey: string): string => `${providerConfigKey}\u0000${connectionId}`;

export class ConnectionStore {
  private readonly byKey = new Map<string, StoredConnection>();
  private readonly history = new Map<string, AppliedWrite[]>();
  private nextId = 1;

  /** Creates or replaces (same id); throws on tags Nango would refuse (a test bug, loud). */
  put(c: SeedConnection): StoredConnection {
    const tags = parseTags(c.tags ?? {});
    if (!tags.ok) throw new Error(`Nango stand-in: invalid tags for ${c.connectionId}: ${tags.message}`);
    const now = new Date().toISOString();
    // An upsert keeps the connection's id, as Nango's does.
    const existing = this.get(c.connectionId, c.providerConfigKey);
    const stored: StoredConnection = {
      id: existing?.id ?? this.nextId++,
      connectionId: c.connectionId,
      providerConfigKey: c.providerConfigKey,
      provider: c.provider ?? c.providerConfigKey,
      metadata: c.metadata === undefined || c.metadata === null ? null : structuredClone(c.metadata),
      tags: tags.value,
      created: c.created ?? now,
      updated: now,
    };
    this.byKey.set(keyOf(c.connectionId, c.providerConfigKey), stored);
    return stored;
  }

  get(connectionId: string, providerConfigKey: string): StoredConnection | undefined {
    return this.byKey.get(keyOf(connectionId, providerConfigKey));
  }

  delete(connectionId: string, providerConfigKey: string): void {
    this.byKey.delete(keyOf(connectionId, providerConfigKey));
  }

  all(): StoredConnection[] {
    return [...this.byKey.values()].sort((a, b) => a.id - b.id);
  }

  /** Shallow merge for PATCH (null stored, nested objects replaced whole); POST replaces. */
  apply(
    n: number,
    route: AppliedWrite['route'],
    method: AppliedWrite['method'],
    conn: StoredConnection,
    patch: Metadata,
    before: Metadata | null,
  ) {
    const after = method === 'PATCH' ? { ...(before ?? {}), ...structuredClone(patch) } : structuredClone(patch);
    conn.metadata = after;
    conn.updated = new Date().toISOString();
    const k = keyOf(conn.connectionId, conn.providerConfigKey);
    const list = this.history.get(k) ?? [];
    list.push({ at: Date.now(), n, route, method, patch: structuredClone(patch), before, after: structuredClone(after) });
    this.history.set(k, list);
  }

  historyOf(connectionId: string, providerConfigKey: string): AppliedWrite[] {
    return structuredClone(this.history.get(keyOf(connectionId, providerConfigKey)) ?? []);
  }

  clearHistory(): void {
    this.history.clear();
  }
}

export const listedJson = (c: StoredConnection): ListedStandinConnection => ({
  id: c.id,
  connection_id: c.connectionId,
  provider: c.provider,
  provider_config_key: c.providerConfigKey,
  created: nangoTime(c.created),
  metadata: c.metadata === null ? null : structuredClone(c.metadata),
  tags: { ...c.tags },
  errors: [],
  end_user: null,
});
