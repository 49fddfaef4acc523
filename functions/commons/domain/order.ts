/**
 * The order of two writes of one key, as one string that DynamoDB can compare in a condition:
 * version (zero-padded), then event id, then a digest of the value. So a tie on version is broken
 * by event id, and one event id carrying two bodies by the value: deterministically, never by arrival.
 * A write whose order equals the stored one is the same write again (a retry), and is accepted.
 */
import { createHash } from 'node:crypto';

const VERSION_DIGITS = 16;
export const MAX_VERSION = Number.MAX_SAFE_INTEGER;

export function orderOf(version: number, eventId: string, value: unknown): string {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`version must be a non-negative safe integer (got ${version})`);
  const digest = createHash('sha256')
    .update(JSON.stringify(value ?? null))
    .digest('hex')
    .slice(0, 16);
  return `${String(version).padStart(VERSION_DIGITS, '0')}#${comparableId(eventId)}#${digest}`;
}

/**
 * The event id as it goes into an order: characters past U+FFFF written as `%u` and their UTF-16
 * units. DynamoDB compares strings by their UTF-8 bytes and JavaScript's `<` by UTF-16 units; the two
 * disagree only where such a character meets one in U+E000 to U+FFFF, so with them escaped, route's
 * condition, apply's check and the stand-in all order two ids alike. Idempotent: the escape is ASCII.
 */
const comparableId = (eventId: string): string =>
  eventId.replace(/[\uD800-\uDFFF]/g, (unit) => `%u${unit.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Whether a stored order is the write `order` again: equal, or the same write as an earlier release
 * stored it, with its id unescaped (its version and digest are ASCII, so escaping the whole string
 * escapes the id). A retry of an event stored before the escape was introduced still counts as
 * written, and its syncs are sent again; the raw order sorts above the escaped one, so the condition
 * alone would call it stale.
 */
export const isSameWrite = (stored: string, order: string): boolean => stored === order || comparableId(stored) === order;

/**
 * Below every order `orderOf` makes (it is their common prefix, so it sorts first): what an operator's
 * reset leaves on a key, so that the next event wins whatever its version.
 */
export const FLOOR_ORDER = '0'.repeat(VERSION_DIGITS);

/** The version part of an order string. */
export const versionOf = (order: string): number => Number(order.slice(0, VERSION_DIGITS));

/** Whether order `a` goes after `b` (anything goes after nothing). */
export const isNewer = (a: string, b: string | undefined): boolean => b === undefined || a > b;

/**
 * The order of one event's writes stored together (one item per key group): the version and event
 * id they share, then a digest of all their values, so one event id carrying two bodies still orders
 * deterministically. The group is accepted or refused whole, so each of its keys takes this order.
 * A group of one key keeps the key's own order.
 */
export function groupOrderOf(writes: readonly { key: string; value: unknown; order: string }[]): string {
  const [first, ...rest] = writes;
  if (first === undefined) throw new RangeError('a key group needs at least one write');
  if (rest.length === 0) return first.order;
  const values = Object.fromEntries([...writes].sort((a, b) => (a.key < b.key ? -1 : 1)).map((w) => [w.key, w.value ?? null]));
  return orderOf(versionOf(first.order), first.order.slice(VERSION_DIGITS + 1, first.order.lastIndexOf('#')), values);
}
