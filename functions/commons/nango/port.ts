/**
 * The port the handlers depend on. `HttpNangoClient` is the one production adapter; tests use it too,
 * against the local Nango stand-in, so the protocol is always exercised.
 */
import type { MetadataPatch } from '#events/define';
import type { Target } from '../patch-message.ts';

export interface CallOptions {
  /** Epoch ms after which no request may still be running (the Lambda's remaining time, less a margin). */
  deadline: number;
}

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Epoch ms. */
  resetAt: number;
}

export interface NangoPort {
  /** Shallow-merge `patch` into the connection's metadata. Throws NangoError. */
  patchMetadata(target: Target, patch: MetadataPatch, opts: CallOptions): Promise<void>;
  /** Every integration (provider config key) that has a connection with this id. Throws NangoError. */
  listIntegrations(connectionId: string, opts: CallOptions): Promise<string[]>;
  /** The connection's current metadata (null when it has none or is not listed). Throws NangoError. */
  getMetadata(target: Target, opts: CallOptions): Promise<Record<string, unknown> | null>;
}
