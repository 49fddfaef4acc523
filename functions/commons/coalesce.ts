/**
 * Coalescing: consecutive patches for one connection become one PATCH. Nango shallow-merges, so
 * applying p1 then p2 equals applying {...p1, ...p2}. Spread (not Object.assign) so an own
 * `__proto__` key from JSON stays a plain key and never reaches a prototype.
 */
import type { MetadataPatch } from '#events/define';

export function coalesce(patches: readonly MetadataPatch[]): MetadataPatch {
  let out: MetadataPatch = {};
  for (const p of patches) out = { ...out, ...p };
  return out;
}
