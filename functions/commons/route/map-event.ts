/**
 * Pure mapping from a parsed event to patch messages: catalog lookup, detail validation, the event
 * type's targets and patch. Resolution of `'all'` targets happens in the processor (it needs Nango).
 */
import * as z from 'zod';
import { eventKey, type EventDefinition, type MetadataPatch, type TargetSpec } from '#events/define';
import type { DomainEvent } from '../event-envelope.ts';
import { VERSIONS_KEY } from '../apply/ordering.ts';

export type Mapped =
  | { ok: true; def: EventDefinition; specs: TargetSpec[]; patch: MetadataPatch }
  | { ok: false; code: string; message: string; errors?: unknown };

const patchSchema = z.record(z.string(), z.json());

export function mapEvent(event: DomainEvent, index: ReadonlyMap<string, EventDefinition>): Mapped {
  const def = index.get(eventKey(event.source, event.detailType));
  if (!def) {
    return {
      ok: false,
      code: 'unknown_event_type',
      message: `no catalog entry for source "${event.source}" and detail-type "${event.detailType}"`,
    };
  }
  const proto = findProtoKey(event.detail);
  if (proto !== undefined) {
    return {
      ok: false,
      code: 'invalid_detail',
      message: `${event.detailType}: "__proto__" is not allowed as a key (at ${proto || 'detail'})`,
    };
  }
  const detail = def.detail.safeParse(event.detail);
  if (!detail.success) {
    return {
      ok: false,
      code: 'invalid_detail',
      message: `${event.detailType}: ${z.prettifyError(detail.error)}`,
      errors: detail.error.issues.map((i) => ({ path: i.path.map(String), code: i.code, message: i.message })),
    };
  }
  let specs: TargetSpec[];
  let patch: unknown;
  try {
    const t = def.targets(detail.data);
    specs = Array.isArray(t) ? [...(t as readonly TargetSpec[])] : [t as TargetSpec];
    patch = def.patch(detail.data);
  } catch (e) {
    return { ok: false, code: 'mapping_error', message: `${event.detailType}: the catalog's targets/patch threw: ${(e as Error).message}` };
  }
  const p = patchSchema.safeParse(patch);
  if (!p.success)
    return {
      ok: false,
      code: 'mapping_error',
      message: `${event.detailType}: the patch is not a JSON object: ${z.prettifyError(p.error)}`,
    };
  if (Object.hasOwn(p.data, VERSIONS_KEY))
    return { ok: false, code: 'mapping_error', message: `${event.detailType}: "${VERSIONS_KEY}" is reserved for ordering` };
  if (Object.keys(p.data).length === 0) return { ok: false, code: 'empty_patch', message: `${event.detailType}: the patch is empty` };
  return { ok: true, def, specs, patch: p.data as MetadataPatch };
}

/**
 * The path of an own `__proto__` key anywhere in a parsed JSON value, or undefined. zod drops such a
 * key without a word (so `{"flags": {"__proto__": true}}` would become `flags: {}` and wipe the stored
 * flags); refusing the event is the only answer that loses nothing silently. Iterative: a deeply
 * nested body cannot overflow the stack here.
 */
export function findProtoKey(value: unknown): string | undefined {
  const stack: { v: unknown; path: string }[] = [{ v: value, path: '' }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (!v || typeof v !== 'object') continue;
    if (Object.hasOwn(v, '__proto__')) return path ? `${path}.__proto__` : '__proto__';
    for (const [k, child] of Object.entries(v))
      if (child && typeof child === 'object') stack.push({ v: child, path: path ? `${path}.${k}` : k });
  }
  return undefined;
}
