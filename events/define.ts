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
   * Every metadata key `patch` may write. Declared so the catalog can check, before anything runs,
   * that one key is ordered by one kind of version; a patch writing a key not listed is refused.
   */
  keys: readonly string[];
  /**
   * A finer order than the event's time (EventBridge's has 1 s resolution): a non-negative integer,
   * larger = newer, such as a `changedAt` in milliseconds or a producer sequence number. Two writes
   * of one key compare by this, then by event id, never by arrival.
   */
  version?: (detail: z.output<S>) => number;
  /**
   * `time` (default): the version is epoch milliseconds; route never lets it exceed the moment the
   * event reached it (a later one is lowered to that moment) and refuses one too far in the future.
   * `sequence`: a producer's counter, which no clock bounds: `maxVersion` must be declared.
   */
  versionKind?: VersionKind;
  /** For a `sequence` version: the largest accepted (a larger one is refused as `invalid_version`), so one bad number cannot lock a key for good. */
  maxVersion?: number;
}

export type VersionKind = 'time' | 'sequence';

/** The kind of version an entry orders its keys by. */
export const versionKindOf = (def: Pick<EventDefinition, 'versionKind'>): VersionKind => def.versionKind ?? 'time';

/** Metadata keys are part of a DynamoDB sort key (at most 1,024 bytes with their scope). */
export const MAX_KEY_BYTES = 512;

const SOURCE_RE = /^[A-Za-z0-9._\-/]{1,256}$/;

export function defineEvent<S extends z.ZodType>(def: EventDefinition<S>): EventDefinition<S> {
  checkEvent(def);
  return Object.freeze(def);
}

/**
 * The checks of `defineEvent`, run again on every entry when a catalog is indexed: an entry spread
 * or written by hand past `defineEvent` would otherwise deploy and fail each of its events at run time.
 */
export function checkEvent(def: EventDefinition): void {
  if (!def || typeof def !== 'object') throw new Error('defineEvent: an entry is not an event definition');
  if (typeof def.source !== 'string' || !SOURCE_RE.test(def.source)) throw new Error(`defineEvent: invalid source "${def.source}"`);
  if (typeof def.detailType !== 'string' || !def.detailType || def.detailType.length > 128) {
    throw new Error(`defineEvent: detailType must be 1-128 characters (got "${def.detailType}")`);
  }
  if (!def.subject || (def.subject.by !== 'tags' && def.subject.by !== 'connectionId')) {
    throw new Error(`defineEvent ${def.detailType}: subject.by must be 'tags' or 'connectionId'`);
  }
  const name: unknown = def.subject.by === 'tags' ? def.subject.tags : def.subject.connectionId;
  if (typeof name !== 'function') {
    throw new Error(
      `defineEvent ${def.detailType}: subject.${def.subject.by === 'tags' ? 'tags' : 'connectionId'} must be a function of the detail`,
    );
  }
  const integrations: unknown = def.subject.integrations;
  if (typeof integrations !== 'function' && integrations !== 'all' && !(Array.isArray(integrations) && integrations.length > 0)) {
    throw new Error(`defineEvent ${def.detailType}: subject.integrations must be 'all', a non-empty list or a function of the detail`);
  }
  if (def.subject.by === 'tags') {
    const keys = def.subject.tagKeys;
    if (
      !Array.isArray(keys) ||
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
  const keys = def.keys as readonly unknown[] | undefined;
  if (
    !Array.isArray(keys) ||
    keys.length === 0 ||
    new Set(keys).size !== keys.length ||
    !keys.every((k) => typeof k === 'string' && k.length > 0 && Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES)
  ) {
    throw new Error(
      `defineEvent ${def.detailType}: keys must list the distinct metadata keys the patch writes, each 1-${MAX_KEY_BYTES} bytes (got ${JSON.stringify(keys)})`,
    );
  }
  if (def.versionKind !== undefined && def.versionKind !== 'time' && def.versionKind !== 'sequence') {
    throw new Error(`defineEvent ${def.detailType}: versionKind must be 'time' or 'sequence' (got ${JSON.stringify(def.versionKind)})`);
  }
  if (def.version !== undefined && typeof def.version !== 'function') {
    throw new Error(`defineEvent ${def.detailType}: version must be a function of the detail`);
  }
  if (def.versionKind === 'sequence') {
    if (!def.version) throw new Error(`defineEvent ${def.detailType}: versionKind 'sequence' needs a version function`);
    if (!Number.isSafeInteger(def.maxVersion) || (def.maxVersion as number) < 1) {
      throw new Error(
        `defineEvent ${def.detailType}: a sequence version needs maxVersion, the largest accepted (a positive integer): no clock bounds a counter`,
      );
    }
  } else if (def.maxVersion !== undefined) {
    throw new Error(
      `defineEvent ${def.detailType}: maxVersion is for sequence versions; a time version is bounded by the time it reached us`,
    );
  }
  if (typeof def.patch !== 'function' || typeof (def.detail as { safeParse?: unknown } | undefined)?.safeParse !== 'function') {
    throw new Error(`defineEvent ${def.detailType}: detail must be a zod schema and patch a function`);
  }
}

/** The catalog key of an event type. */
export const eventKey = (source: string, detailType: string): string => `${source}\u0000${detailType}`;

/** An event catalog: every domain event type one deployment understands. */
export type Catalog = readonly EventDefinition[];

/**
 * Checks a catalog as a whole: no event type twice, and one kind of version per metadata key. Two
 * types may write one key, but a sequence number and a millisecond time do not compare: a time of
 * 2020 would beat a sequence written today. Throws naming the key and both types.
 */
export function defineCatalog<C extends Catalog>(entries: C): C {
  indexCatalog(entries);
  return Object.freeze(entries);
}

/** Index a catalog by (source, detail-type); duplicates and a key with two kinds of version are programming errors. */
export function indexCatalog(entries: Catalog): ReadonlyMap<string, EventDefinition> {
  const map = new Map<string, EventDefinition>();
  const keyKinds = new Map<string, EventDefinition>();
  for (const def of entries) {
    checkEvent(def);
    const key = eventKey(def.source, def.detailType);
    if (map.has(key)) throw new Error(`catalog: duplicate event type ${def.source} / ${def.detailType}`);
    map.set(key, def);
    for (const k of def.keys ?? []) {
      const first = keyKinds.get(k);
      if (!first) keyKinds.set(k, def);
      else if (versionKindOf(first) !== versionKindOf(def))
        throw new Error(
          `catalog: metadata key "${k}" is written by ${first.detailType} with a ${versionKindOf(first)} version and by ${def.detailType} with a ${versionKindOf(def)} version; one key needs one kind of version (the two do not compare)`,
        );
    }
  }
  return map;
}

/** The event types of a catalog as `source detail-type`, sorted: what the rule pattern matches. */
export const eventTypesOf = (entries: Catalog): string[] => entries.map((e) => `${e.source} ${e.detailType}`).sort();

/**
 * Throws unless `entries` holds exactly the event types the rule was derived from at synth. The
 * catalog module is evaluated again in each function: one that reads the environment or the clock
 * could hold other types there, and route would then park the events the rule sends it (or the rule
 * never send the ones route accepts). A function that fails at its start says so at once.
 */
export function assertEventTypes(entries: Catalog, atSynth: readonly string[]): void {
  const here = Array.isArray(entries) ? eventTypesOf(entries) : [];
  const synth = new Set(atSynth);
  const extra = here.filter((t) => !synth.has(t));
  const missing = atSynth.filter((t) => !here.includes(t));
  if (extra.length === 0 && missing.length === 0) return;
  const list = (ts: string[]) => `${ts.slice(0, 5).join(', ')}${ts.length > 5 ? ` and ${ts.length - 5} more` : ''}`;
  throw new Error(
    `catalog: this function's catalog differs from the one the rule was made from at synth (${[
      missing.length ? `missing ${list(missing)}` : '',
      extra.length ? `not in the rule ${list(extra)}` : '',
    ]
      .filter(Boolean)
      .join('; ')}); a catalog module must not depend on the environment or the time it is evaluated in`,
  );
}

/** The tag-key sets subjects are addressed by: a connection belongs to one subject per set its tags cover. */
export function subjectTagKeySets(entries: Catalog): string[][] {
  const sets = new Map<string, string[]>();
  for (const e of entries)
    if (e.subject.by === 'tags') {
      const keys = [...e.subject.tagKeys].sort();
      sets.set(keys.join('\n'), keys);
    }
  return [...sets.values()];
}

/** Whether any entry addresses connections by id (then every connection is also the subject of its own id). */
export const usesConnectionIdSubjects = (entries: Catalog): boolean => entries.some((e) => e.subject.by === 'connectionId');

/** How a listed or announced connection's subjects are found (webhook, reconcile): both facts above. */
export const subjectRules = (entries: Catalog): { tagKeySets: string[][]; byConnectionId: boolean } => ({
  tagKeySets: subjectTagKeySets(entries),
  byConnectionId: usesConnectionIdSubjects(entries),
});
