/** Everything the Nango stand-in holds between requests: settings, connections, recordings, counters. */
import type { FaultHook } from './faults.ts';
import { DEFAULT_RATE_LIMIT, FixedWindow } from './rate-limit.ts';
import { ConnectionStore, type StoredConnection } from './store.ts';
import type { AdminAction, NangoStandinOptions, NangoStandinStats, RecordedRequest, SeedConnection } from './types.ts';
import { authWebhookBody, WebhookSender } from './webhooks.ts';
import { isUuidV4 } from './wire.ts';

export const requireKey = (k: string): string => {
  if (!isUuidV4(k)) throw new Error('Nango stand-in: secret keys are UUID v4');
  return k;
};

const freshStats = (): NangoStandinStats => ({
  requests: 0,
  patches: 0,
  applied: 0,
  byStatus: {},
  overlaps: 0,
  maxConcurrentPerConnection: 0,
  rateLimited: 0,
});

export class StandinState {
  secretKey: string;
  readonly forbidden: Set<string>;
  readonly unlistable: Set<string>;
  latencyMs: number;
  faultHook: FaultHook | undefined;
  readonly raceMode: boolean;
  readonly raceDelayMs: number;
  readonly window: FixedWindow;
  readonly rateLimitDefault: number;
  readonly listOrder: 'newest-first' | 'oldest-first';
  readonly store = new ConnectionStore();
  readonly requests: RecordedRequest[] = [];
  readonly admin: AdminAction[] = [];
  readonly webhooks: WebhookSender | undefined;
  /** Requests per (connection, integration) since reset, for the fault hook's connectionN. */
  readonly perConnectionCount = new Map<string, number>();
  /** Writes in flight per (connection, integration), for the overlap count. */
  readonly inFlight = new Map<string, number>();
  seq = 0;
  counters = freshStats();
  closed = false;
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(opts: NangoStandinOptions) {
    this.secretKey = requireKey(opts.secretKey);
    this.forbidden = new Set((opts.forbiddenKeys ?? []).map(requireKey));
    this.unlistable = new Set((opts.unlistableKeys ?? []).map(requireKey));
    this.latencyMs = opts.latencyMs ?? 0;
    this.faultHook = opts.fault;
    this.raceMode = opts.raceMode ?? false;
    this.raceDelayMs = opts.raceDelayMs ?? 25;
    const rateLimit = opts.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.window = new FixedWindow(rateLimit);
    // An injected 429 names the same limit as every other answer, as one account's would.
    this.rateLimitDefault = rateLimit.limit;
    this.listOrder = opts.listOrder ?? 'newest-first';
    this.webhooks = opts.webhook ? new WebhookSender(opts.webhook) : undefined;
    for (const c of opts.connections ?? []) this.store.put(c);
  }

  /** Sleeps end early on close() so no handler is left waiting on a timer. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (ms <= 0 || this.closed) return resolve();
      const s = {
        timer: setTimeout(() => {
          this.sleepers.delete(s);
          resolve();
        }, ms),
        resolve,
      };
      this.sleepers.add(s);
    });
  }

  /**
   * A connection appears as after the Connect UI (or an import): stored, recorded, and announced by
   * an auth webhook, `override` when it existed already (Nango's upsert says so too).
   */
  create(c: SeedConnection, authMode = 'OAUTH2'): StoredConnection {
    const existed = this.store.get(c.connectionId, c.providerConfigKey);
    const stored = this.store.put(existed ? { ...c, created: existed.created } : c);
    this.admin.push({
      at: Date.now(),
      action: 'createConnection',
      connectionId: stored.connectionId,
      providerConfigKey: stored.providerConfigKey,
      tags: { ...stored.tags },
      metadata: stored.metadata === null ? null : structuredClone(stored.metadata),
    });
    this.authWebhook(stored, existed ? 'override' : 'creation', authMode);
    return stored;
  }

  /** Nango's auth webhook after a connection was created or re-authorised. */
  authWebhook(c: StoredConnection, operation: 'creation' | 'override', authMode = 'OAUTH2'): void {
    this.webhooks?.send(authWebhookBody(c, operation, authMode));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sleepers) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this.sleepers.clear();
    await this.webhooks?.close();
  }

  reset(): void {
    this.requests.length = 0;
    this.store.clearHistory();
    this.perConnectionCount.clear();
    this.counters = freshStats();
    this.seq = 0;
    this.window.reset();
  }
}
