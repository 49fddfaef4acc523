/**
 * The port the handlers depend on. `HttpNangoClient` is the one production adapter; tests use it too,
 * against the local Nango stand-in, so the protocol is always exercised.
 */
import type { MetadataPatch } from '#events/define';
import type { Target } from '../sync/message.ts';

export interface CallOptions {
  /** Epoch ms after which no request may still be running (the Lambda's remaining time, less a margin). */
  deadline: number;
}

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Epoch ms, from X-RateLimit-Reset (whole seconds, rounded down by the server). */
  resetAt: number;
}

/** Which connections: all given criteria must hold (tags are an AND of every pair). */
export interface ConnectionFilter {
  tags?: Record<string, string>;
  connectionId?: string;
  /** Provider config keys; a connection of any of them matches. */
  integrationIds?: readonly string[];
}

/** One connection as listed: no credentials, ever. */
export interface ListedConnection {
  connectionId: string;
  providerConfigKey: string;
  provider?: string;
  tags: Record<string, string>;
  metadata: Record<string, unknown> | null;
  created?: string;
}

export interface PageRequest {
  /** 1..2000. */
  limit: number;
  /** 0-based, as Nango counts. */
  page: number;
}

export interface NangoPort {
  /** Shallow-merge `patch` into the connection's metadata. Throws Failure. */
  patchMetadata(target: Target, patch: MetadataPatch, opts: CallOptions): Promise<void>;
  /** One page of GET /connections with the filter (tags[k]=v AND-filter, connectionId, integrationId comma list, limit, page). */
  listConnections(filter: ConnectionFilter, page: PageRequest, opts: CallOptions): Promise<ListedConnection[]>;
}
