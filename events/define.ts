/**
 * The event catalog API. One module per domain event type calls `defineEvent`; the catalog index
 * collects them. Route validates and maps events with it, the webhook and reconcile derive a
 * connection's subjects from the tag keys it declares, and the CDK construct derives the EventBridge
 * rule pattern from it, so an event type is declared exactly once.
 */
import type { z } from 'zod';
import { MAX_TAGS, tagKeySchema } from './ids.ts';

/** Metadata values are JSON; Nango stores them as given (shallow merge, `null` kept, objects replaced whole). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type MetadataPatch = Record<string, Json>;

/** Which integrations (provider config keys) of the subject's connections a key applies to. */
export type Integrations = readonly string[] | 'all';

/**
 * What an event is about, and so which connections it reaches:
 * - `tags`: every connection whose Nango tags include all of these (the Connect UI scheme, where
 *   connection ids are random UUIDs and the customer is named by tags such as `organization_id`);
 * - `connectionId`: every connection with this id (the scheme where the id is the customer id).
 */
export type SubjectSpec =
  | { by: 'tags'; tags: Record<string, string>; integrations: Integrations }
  | { by: 'connectionId'; connectionId: string; integrations: Integrations };

/** How a catalog entry names its subject; the tag keys are declared so a connection's subjects can be found from its tags. */
export type SubjectRule<D> =
  | {
      by: 'tags';
      tagKeys: readonly string[];
      tags: (detail: D) => Record<string, string>;
      integrations: Integrations | ((detail: D) => Integrations);
    }
  | { by: 'connectionId'; connectionId: (detail: D) => string; integrations: Integrations | ((detail: D) => Integrations) };

export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  source: string;
  detailType: string;
  description: string;
  detail: S;
  subject: SubjectRule<z.output<S>>;
  patch: (detail: z.output<S>) => MetadataPatch;
  /**
   * A finer order than the event's time (EventBridge's has 1 s resolution): a non-negative integer,
   * larger = newer, such as a `changedAt` in milliseconds or a producer sequence number. Two writes
   * of one key compare by this, then by event id, never by arrival.
   */
  version?: (detail: z.output<S>) => number;
  /** `time` (default): the version is epoch milliseconds and is refused when too far in the future. */
  versionKind?: 'time' | 'sequence';
}

const SOURCE_RE = /^[A-Za-z0-9._\-/]{1,256}$/;

export function defineEvent<S extends z.ZodType>(def: EventDefinition<S>): EventDefinition<S> {
  if (!SOURCE_RE.test(def.source)) throw new Error(`defineEvent: invalid source "${def.source}"`);
  if (!def.detailType || def.detailType.length > 128) {
    throw new Error(`defineEvent: detailType must be 1-128 characters (got "${def.detailType}")`);
  }
  if (def.subject.by === 'tags') {
    const keys = def.subject.tagKeys;
    if (
      keys.length === 0 ||
      keys.length > MAX_TAGS ||
      new Set(keys).size !== keys.length ||
      !keys.every((k) => tagKeySchema.safeParse(k).success)
    ) {
      throw new Error(
        `defineEvent ${def.detailType}: tagKeys must be 1-10 distinct lowercase Nango tag keys (got ${JSON.stringify(keys)})`,
      );
    }
  }
  return Object.freeze(def);
}

/** The catalog key of an event type. */
export const eventKey = (source: string, detailType: string): string => `${source}\u0000${detailType}`;
