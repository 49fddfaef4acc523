/**
 * The EventBridge rule pattern, derived from the event catalog so an event type is declared once.
 * Source and detail-type are paired exactly: plain lists would also match, say, `app.billing`
 * with a detail-type that only `app.accounts` emits. One branch per source, joined by `$or`
 * (which the CDK L2 `EventPattern` type cannot express, hence a plain object for the L1 rule).
 */
import type { Catalog } from '#events/define';

export interface SourceBranch {
  source: string[];
  'detail-type': string[];
}

export type CatalogEventPattern = SourceBranch | { $or: SourceBranch[] };

export function catalogEventPattern(entries: Catalog): CatalogEventPattern {
  if (entries.length === 0) throw new Error('catalogEventPattern: the catalog is empty; the rule would match nothing');
  const bySource = new Map<string, Set<string>>();
  for (const def of entries) {
    const types = bySource.get(def.source) ?? new Set<string>();
    if (types.has(def.detailType)) throw new Error(`catalogEventPattern: duplicate event type ${def.source} / ${def.detailType}`);
    types.add(def.detailType);
    bySource.set(def.source, types);
  }
  // Sorted so the template does not change when catalog modules are reordered.
  const branches = [...bySource.keys()].sort().map((source) => ({
    source: [source],
    'detail-type': [...(bySource.get(source) ?? [])].sort(),
  }));
  return branches.length === 1 ? branches[0]! : { $or: branches };
}

/** Every (source, detail-type) pair a pattern matches: a test helper and a readable summary. */
export function patternPairs(pattern: CatalogEventPattern): string[] {
  const branches = '$or' in pattern ? pattern.$or : [pattern];
  return branches.flatMap((b) => b.source.flatMap((s) => b['detail-type'].map((t) => `${s} ${t}`))).sort();
}
