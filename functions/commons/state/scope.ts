/** The scope sets of desired items: which integrations one item of an event's keys applies to. */
import { MAX_SCOPE_BYTES } from './limits.ts';

/** Joins a scope set's provider config keys, which never contain a comma. */
export const SCOPE_SEPARATOR = ',';
/** Longer scope sets are named by their digest in the sort key. */
export const MAX_SCOPE_NAME = 200;

/**
 * The event's integrations, sorted, as the scope sets of its items: one set unless their names pass
 * MAX_SCOPE_BYTES together (an item holds the event's values besides), then as many as it takes.
 */
export function scopeSets(integrations: readonly string[]): string[] {
  const sets: string[] = [];
  let set = '';
  for (const key of [...new Set(integrations)].sort()) {
    if (set && Buffer.byteLength(set) + 1 + Buffer.byteLength(key) > MAX_SCOPE_BYTES) {
      sets.push(set);
      set = '';
    }
    set = set ? `${set}${SCOPE_SEPARATOR}${key}` : key;
  }
  return set ? [...sets, set] : sets;
}
