/**
 * Pure mapping from a parsed event to desired-state writes: catalog lookup, detail validation, the
 * event type's subject, patch and version, and the bounds a deployment sets (integrations per event,
 * how far in the future an event may be timed). Nothing here calls out.
 */
import * as z from 'zod';
import {
  eventKey,
  type EventDefinition,
  type Integrations,
  MAX_KEY_BYTES,
  type MetadataPatch,
  type SubjectSpec,
  versionKindOf,
} from '#events/define';
import { connectionIdSchema, PROVIDER_CONFIG_KEY_RE, tagValueSchema } from '#events/ids';
import { MAX_VERSION, orderOf } from '../domain/order.ts';
import { subjectOf, type Subject } from '../domain/subject.ts';
import type { DomainEvent } from '../event-envelope.ts';
import type { KeyWrite } from '../state/port.ts';
import type { EventRef } from '../sync/message.ts';

export interface MapLimits {
  maxIntegrationsPerEvent: number;
  maxFutureSkewMs: number;
  now: number;
}

export type Mapped =
  | { ok: true; def: EventDefinition; subject: Subject; writes: KeyWrite[]; ref: EventRef }
  | { ok: false; code: string; message: string; errors?: unknown };

// The schemas here are built on their first parse (`z.lazy`), not at a cold start's import.
const patchSchema = z.lazy(() =>
  z.record(
    z
      .string()
      .min(1)
      .refine((k) => Buffer.byteLength(k, 'utf8') <= MAX_KEY_BYTES, `a metadata key is at most ${MAX_KEY_BYTES} bytes`),
    z.json(),
  ),
);
/**
 * The least time version accepted (1973-03-03 in milliseconds): a version in seconds is below it
 * until the year 5138, and would otherwise order as January 1970, losing to every other write.
 */
export const MIN_TIME_VERSION = 100_000_000_000;

const fail = (code: string, message: string, errors?: unknown): Mapped => ({ ok: false, code, message, ...(errors ? { errors } : {}) });

export function mapEvent(event: DomainEvent, index: ReadonlyMap<string, EventDefinition>, limits: MapLimits): Mapped {
  const def = index.get(eventKey(event.source, event.detailType));
  if (!def) return fail('unknown_event_type', `no catalog entry for source "${event.source}" and detail-type "${event.detailType}"`);
  const proto = findProtoKey(event.detail);
  if (proto !== undefined)
    return fail('invalid_detail', `${event.detailType}: "__proto__" is not allowed as a key (at ${proto || 'detail'})`);
  const detail = def.detail.safeParse(event.detail);
  if (!detail.success) {
    return fail(
      'invalid_detail',
      `${event.detailType}: ${z.prettifyError(detail.error)}`,
      detail.error.issues.map((i) => ({ path: i.path.map(String), code: i.code, message: i.message })),
    );
  }
  let spec: SubjectSpec;
  let patch: unknown;
  let version: number;
  try {
    spec = subjectSpec(def, detail.data);
    patch = def.patch(detail.data);
    version = def.version ? def.version(detail.data) : Date.parse(event.time);
  } catch (e) {
    return fail('mapping_error', `${event.detailType}: the catalog's subject, patch or version threw: ${(e as Error).message}`);
  }
  const p = patchSchema.safeParse(patch);
  if (!p.success) return fail('mapping_error', `${event.detailType}: the patch is not a JSON object: ${z.prettifyError(p.error)}`);
  if (Object.keys(p.data).length === 0) return fail('empty_patch', `${event.detailType}: the patch is empty`);
  if (!Number.isSafeInteger(version) || version < 0 || version > MAX_VERSION) {
    return fail('invalid_version', `${event.detailType}: the version must be a non-negative integer (got ${version})`);
  }
  const undeclared = Object.keys(p.data).find((k) => !def.keys.includes(k));
  if (undeclared !== undefined)
    return fail(
      'mapping_error',
      `${event.detailType}: the patch writes "${undeclared.slice(0, 100)}", a key its catalog entry does not declare`,
    );
  const kind = versionKindOf(def);
  if (kind === 'time' && def.version !== undefined && version < MIN_TIME_VERSION) {
    return fail(
      'invalid_version',
      `${event.detailType}: a time version is epoch milliseconds; ${version} is before 1973 (seconds?), and would lose to every write of its keys`,
    );
  }
  if (kind === 'sequence' && version > (def.maxVersion ?? MAX_VERSION)) {
    return fail('invalid_version', `${event.detailType}: sequence ${version} is above the catalog's bound ${def.maxVersion}`);
  }
  const bad = checkIntegrations(spec.integrations, limits.maxIntegrationsPerEvent);
  if (bad) return fail(bad.code, `${event.detailType}: ${bad.message}`);
  const eventMs = Date.parse(event.time);
  const timeVersion = kind === 'time' && def.version !== undefined;
  for (const [what, ms] of [['time', eventMs], ...(timeVersion ? [['version', version] as const] : [])] as const) {
    if (ms > limits.now + limits.maxFutureSkewMs) {
      return fail(
        'event_time_in_future',
        `${event.detailType}: event ${what} ${new Date(ms).toISOString()} is more than ${limits.maxFutureSkewMs / 1000} s ahead of now; it would lock its keys against every later change`,
      );
    }
  }
  // A time version never goes past the moment the event reached us: one dated ahead (a fast clock,
  // or a forged date inside the skew window) would otherwise outrank every genuine change made
  // until its date. Lowered rather than refused, so the event itself is kept: an event cannot have
  // happened after it arrived, and for any event timed correctly this changes nothing.
  if (kind === 'time') version = Math.min(version, event.receivedAt ?? limits.now);
  const ref: EventRef = { id: event.id, source: event.source, detailType: event.detailType, time: event.time };
  const data = p.data as MetadataPatch;
  const writes = Object.entries(data).map(([key, value]) => ({
    key,
    value,
    order: orderOf(version, event.id, value),
    integrations: spec.integrations,
    event: ref,
  }));
  return { ok: true, def, subject: subjectOf(spec), writes, ref };
}

function subjectSpec(def: EventDefinition, detail: unknown): SubjectSpec {
  const rule = def.subject;
  const named = typeof rule.integrations === 'function' ? rule.integrations(detail) : rule.integrations;
  // Anything else is refused, not spread: a string would become its letters, integrations no connection has.
  if (named !== 'all' && !Array.isArray(named)) throw new Error(`integrations must be 'all' or an array of provider config keys`);
  // A repeat names nothing more: de-duplicated, so it cannot multiply the fan-out.
  const integrations = named === 'all' ? 'all' : [...new Set(named)];
  if (rule.by === 'connectionId') {
    // Checked here, not only by the schema: an id that is not one (undefined from a permissive
    // schema) would leave the connection filter empty, and the listing would name every connection.
    const connectionId: unknown = rule.connectionId(detail);
    if (!connectionIdSchema.safeParse(connectionId).success)
      throw new Error('the connection id must be 1-255 characters Nango allows in a connection id');
    return { by: 'connectionId', connectionId: connectionId as string, integrations };
  }
  const tags = rule.tags(detail);
  const keys = Object.keys(tags).sort();
  if (keys.join('\n') !== [...rule.tagKeys].sort().join('\n'))
    throw new Error(`tags must have exactly the keys ${rule.tagKeys.join(', ')}`);
  if (Object.values(tags).some((v) => !tagValueSchema.safeParse(v).success)) throw new Error('tag values must be 1-255 characters');
  return { by: 'tags', tags, integrations };
}

/** Integration lists are bounded and valid provider config keys (already de-duplicated). */
function checkIntegrations(integrations: Integrations, max: number): { code: string; message: string } | undefined {
  if (integrations === 'all') return undefined;
  if (integrations.length === 0) return { code: 'invalid_integrations', message: 'the integration list is empty' };
  if (integrations.length > max)
    return { code: 'too_many_integrations', message: `${integrations.length} integrations named; the cap is ${max}` };
  const wrong = integrations.find((i) => typeof i !== 'string' || !PROVIDER_CONFIG_KEY_RE.test(i) || i.length > 255);
  if (wrong !== undefined)
    return { code: 'invalid_integrations', message: `"${String(wrong).slice(0, 100)}" is not a valid provider config key` };
  return undefined;
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
