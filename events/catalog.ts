/** The event catalog: every domain event type this deployment understands. Add a module, list it here. */
import { eventKey, type EventDefinition, versionKindOf } from './define.ts';
import { customerPlanChanged } from './customer-plan-changed.ts';
import { customerSeatsChanged } from './customer-seats-changed.ts';
import { customerStatusChanged } from './customer-status-changed.ts';
import { customerSettingsChanged } from './customer-settings-changed.ts';

export const catalog: readonly EventDefinition[] = defineCatalog([
  customerPlanChanged,
  customerSeatsChanged,
  customerStatusChanged,
  customerSettingsChanged,
] as readonly EventDefinition[]);

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

/** The tag-key sets subjects are addressed by: a connection belongs to one subject per set its tags cover. */
export function subjectTagKeySets(entries: Catalog = catalog): string[][] {
  const sets = new Map<string, string[]>();
  for (const e of entries)
    if (e.subject.by === 'tags') {
      const keys = [...e.subject.tagKeys].sort();
      sets.set(keys.join('\n'), keys);
    }
  return [...sets.values()];
}

/** Whether any entry addresses connections by id (then every connection is also the subject of its own id). */
export const usesConnectionIdSubjects = (entries: Catalog = catalog): boolean => entries.some((e) => e.subject.by === 'connectionId');

/** How a listed or announced connection's subjects are found (webhook, reconcile): both facts above. */
export const subjectRules = (entries: Catalog = catalog): { tagKeySets: string[][]; byConnectionId: boolean } => ({
  tagKeySets: subjectTagKeySets(entries),
  byConnectionId: usesConnectionIdSubjects(entries),
});
