/**
 * Shared fast-check arbitraries and helpers for the property suites. Patches are built through
 * JSON.parse, as they arrive in production, so a `__proto__` key is an own data property (the case
 * that pollutes prototypes when code uses assignment instead of spread).
 */
import fc from 'fast-check';
import type { Json, MetadataPatch } from '#events/define';

/** Keys that look harmless, keys that collide across patches, and keys that are traps. */
export const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('plan', 'seats', 'status', 'region', 'flags', 'a', 'b') },
  { weight: 2, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 6, unit: 'grapheme' }) },
);

export const jsonArb: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>;

/** A JSON object text, then parsed: duplicate keys collapse (last wins) exactly as JSON.parse does. */
export const jsonObjectText = (entries: readonly (readonly [string, unknown])[]): string =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;

export const patchArb: fc.Arbitrary<MetadataPatch> = fc
  .array(fc.tuple(keyArb, jsonArb), { maxLength: 6 })
  .map((entries) => JSON.parse(jsonObjectText(entries)) as MetadataPatch);

/** Stable JSON (own enumerable keys sorted) so `__proto__` keys and key order never fool a comparison. */
export function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** The stand-in's (and Nango's) PATCH semantics: shallow merge, later wins, nested objects replaced whole. */
export const shallowMerge = (before: Record<string, unknown> | null, patch: Record<string, unknown>): Record<string, unknown> => ({
  ...(before ?? {}),
  ...patch,
});

/** Event times from a small pool, so ties are common. */
export const timeArb: fc.Arbitrary<string> = fc.integer({ min: 0, max: 7 }).map((s) => `2026-03-01T10:00:0${s}.000Z`);

/** Object.prototype must stay exactly as Node shipped it. */
export function prototypeSnapshot(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort();
}
