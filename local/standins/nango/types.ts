/** The Nango stand-in's public shapes: options, recordings, the test-side admin API. */
import type { FaultHook } from './faults.ts';
import type { RateLimitConfig } from './rate-limit.ts';
import type { WebhookDelivery, WebhookOptions } from './webhooks.ts';

export type Metadata = Record<string, unknown>;

export interface SeedConnection {
  connectionId: string;
  providerConfigKey: string;
  provider?: string;
  metadata?: Metadata | null;
  /** At most 10 keys (normalised to lowercase, as Nango does), string values of 1..255 characters. */
  tags?: Record<string, string>;
  /** ISO time; defaults to when it was added. */
  created?: string;
}

export interface NangoStandinOptions {
  /** The account's current secret key; must be a UUID v4 like the real ones. */
  secretKey: string;
  connections?: SeedConnection[];
  /** Fixed delay added to every request before it is answered. */
  latencyMs?: number;
  /** Per-account fixed window (default: 1,000,000 a minute); every authenticated answer carries X-RateLimit-*. */
  rateLimit?: RateLimitConfig;
  /** Read, wait `raceDelayMs`, write: concurrent PATCHes to one connection lose updates. */
  raceMode?: boolean;
  /** The wait between read and write in race mode (default 25 ms). */
  raceDelayMs?: number;
  fault?: FaultHook;
  /** Keys that authenticate but lack environment:connections:update: writes get 403 `forbidden`. */
  forbiddenKeys?: string[];
  /** Keys that authenticate but lack environment:connections:list: GET /connections gets 403 `forbidden`. */
  unlistableKeys?: string[];
  /** Auth webhooks (creation, override) to this URL, signed with the signing key. */
  webhook?: WebhookOptions;
  /** GET /connections order: newest first as Nango lists (default), or oldest first, to show a client depends on neither. */
  listOrder?: 'newest-first' | 'oldest-first';
}

export interface RecordedRequest {
  /** 1-based, the `n` the fault hook saw. */
  n: number;
  method: string;
  /** Raw path as sent (percent-encoding kept), without the query string. */
  path: string;
  /** Each name once, as sent (`tags[organization_id]` stays flat); the last value of a repeated name. */
  query: Record<string, string>;
  /** Lower-cased names; `authorization` becomes "Bearer REDACTED" (or "REDACTED" without the scheme). */
  headers: Record<string, string>;
  /** Parsed JSON when it parsed, the text otherwise, undefined when empty. Import credentials are masked. */
  body: unknown;
  /** Undefined while in flight; 0 when the socket was reset by a fault. */
  status?: number;
  fault?: string;
  startedAt: number;
  endedAt?: number;
}

export interface AppliedWrite {
  at: number;
  /** Request number (RecordedRequest.n). */
  n: number;
  route: 'current' | 'legacy';
  method: 'PATCH' | 'POST';
  patch: Metadata;
  before: Metadata | null;
  after: Metadata;
}

/** What a test did through the admin API (not HTTP): Nango's dashboard, Connect UI or functions. */
export interface AdminAction {
  at: number;
  action: 'createConnection' | 'setMetadataBehindOurBack' | 'reauthorize' | 'retag';
  connectionId: string;
  providerConfigKey: string;
  tags?: Record<string, string>;
  metadata?: Metadata | null;
}

export interface NangoStandinStats {
  requests: number;
  /** PATCH requests to a metadata route, whatever their outcome. */
  patches: number;
  /** Writes that changed stored metadata (one per connection id). */
  applied: number;
  byStatus: Record<number, number>;
  /** Times a write (PATCH/POST) for a (connection, integration) started while another was in flight. */
  overlaps: number;
  maxConcurrentPerConnection: number;
  /** 429 answers, from the rate limit or injected. */
  rateLimited: number;
}

/** A connection as the list endpoint shows it. */
export interface ListedStandinConnection {
  id: number;
  connection_id: string;
  provider: string;
  provider_config_key: string;
  created: string;
  metadata: Metadata | null;
  tags: Record<string, string>;
  errors: unknown[];
  end_user: null;
}

export interface NangoStandin {
  url: string;
  close(): Promise<void>;
  setSecretKey(key: string): void;
  /** Seeds (or replaces) a connection that existed before: no webhook. */
  addConnection(c: SeedConnection): void;
  removeConnection(connectionId: string, providerConfigKey: string): void;
  metadataOf(connectionId: string, providerConfigKey: string): Metadata | null | undefined;
  connections(): Array<Required<Pick<SeedConnection, 'connectionId' | 'providerConfigKey' | 'provider'>> & SeedConnection>;
  /** A user finished the Connect UI: the connection appears and an auth webhook (creation) goes out. */
  createConnection(c: Omit<SeedConnection, 'created'>): ListedStandinConnection;
  /** Nango's dashboard or a function replaced the metadata whole; no request, no webhook. */
  setMetadataBehindOurBack(connectionId: string, providerConfigKey: string, metadata: Metadata | null): void;
  /** Tags changed through Nango's API (PATCH /connections/{id}): no webhook, seen only by listing. */
  retag(connectionId: string, providerConfigKey: string, tags: Record<string, string>): void;
  /** The user re-authorised: an auth webhook with operation "override". */
  reauthorize(connectionId: string, providerConfigKey: string): void;
  adminActions(): AdminAction[];
  webhookDeliveries(): WebhookDelivery[];
  /** Resolves when every webhook delivery started so far has succeeded or given up. */
  webhooksSettled(): Promise<void>;
  setFault(hook: FaultHook | undefined): void;
  setLatency(ms: number): void;
  requests: RecordedRequest[];
  stats(): NangoStandinStats;
  /** Writes applied to one connection, oldest first. */
  applyHistory(connectionId: string, providerConfigKey: string): AppliedWrite[];
  /** Clears recorded requests, stats, apply history and the rate window; keeps connections and settings. */
  reset(): void;
}
