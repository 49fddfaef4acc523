/**
 * The event catalog API. One module per domain event type calls `defineEvent`; the catalog index
 * collects them. Route validates and maps events with it, and the CDK construct derives the
 * EventBridge rule pattern from it, so an event type is declared exactly once.
 */
import type { z } from 'zod';

/** Metadata values are JSON; Nango stores them as given (shallow merge, `null` kept, objects replaced whole). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type MetadataPatch = Record<string, Json>;

/**
 * Where an event's patch goes. `integrations: 'all'` means every integration this connection id
 * has in Nango, resolved at run time with `GET /connections?connectionId=`.
 */
export interface TargetSpec {
  connectionId: string;
  integrations: readonly string[] | 'all';
}

export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  source: string;
  detailType: string;
  description: string;
  detail: S;
  targets: (detail: z.output<S>) => TargetSpec | readonly TargetSpec[];
  patch: (detail: z.output<S>) => MetadataPatch;
}

const SOURCE_RE = /^[A-Za-z0-9._\-/]{1,256}$/;

export function defineEvent<S extends z.ZodType>(def: EventDefinition<S>): EventDefinition<S> {
  if (!SOURCE_RE.test(def.source)) throw new Error(`defineEvent: invalid source "${def.source}"`);
  if (!def.detailType || def.detailType.length > 128) {
    throw new Error(`defineEvent: detailType must be 1-128 characters (got "${def.detailType}")`);
  }
  return Object.freeze(def);
}

/** The catalog key of an event type. */
export const eventKey = (source: string, detailType: string): string => `${source}\u0000${detailType}`;
