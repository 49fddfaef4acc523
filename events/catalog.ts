/** The event catalog: every domain event type this deployment understands. Add a module, list it here. */
import { eventKey, type EventDefinition } from './define.ts';
import { customerPlanChanged } from './customer-plan-changed.ts';
import { customerSeatsChanged } from './customer-seats-changed.ts';
import { customerStatusChanged } from './customer-status-changed.ts';
import { customerSettingsChanged } from './customer-settings-changed.ts';

export const catalog: readonly EventDefinition[] = [
  customerPlanChanged,
  customerSeatsChanged,
  customerStatusChanged,
  customerSettingsChanged,
] as readonly EventDefinition[];

export type Catalog = readonly EventDefinition[];

/** Index a catalog by (source, detail-type); duplicates are a programming error. */
export function indexCatalog(entries: Catalog): ReadonlyMap<string, EventDefinition> {
  const map = new Map<string, EventDefinition>();
  for (const def of entries) {
    const key = eventKey(def.source, def.detailType);
    if (map.has(key)) throw new Error(`catalog: duplicate event type ${def.source} / ${def.detailType}`);
    map.set(key, def);
  }
  return map;
}

/** The EventBridge pattern that matches exactly the catalog's event types (used by the CDK rule). */
export function eventPattern(entries: Catalog = catalog): { source: string[]; detailType: string[] } {
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  return { source: uniq(entries.map((e) => e.source)), detailType: uniq(entries.map((e) => e.detailType)) };
}
