/**
 * What fits in one DynamoDB item (400 KB), at the longest ids Nango allows. Settings are bounded by
 * these, and writes check them before they are made, so no item can overflow.
 */
import { MAX_ID_LENGTH } from '#events/ids';

/** DynamoDB's item limit, in bytes (names and values, UTF-8). */
export const ITEM_LIMIT_BYTES = 400 * 1024;

/**
 * One index entry is the JSON of `[providerConfigKey, connectionId]`: a connection id may hold `"`
 * and `\`, which JSON escapes to two bytes each; provider config keys have neither.
 */
export const MAX_INDEX_ENTRY_BYTES = 7 + MAX_ID_LENGTH + 2 * MAX_ID_LENGTH;

/** The rest of an index item: its keys (the subject id twice, at most 1,100 bytes each) and timestamps. */
const INDEX_ITEM_OVERHEAD_BYTES = 8 * 1024;

/** Connections one subject's index item holds at the longest ids (519, rounded down). */
export const MAX_INDEX_ENTRIES = 500;

/**
 * The provider config keys one desired item names, at most (bytes, comma-joined): with an event's
 * values (MAX_EVENT_BYTES, 256 KiB) the item stays far below ITEM_LIMIT_BYTES; an event naming more
 * integrations is stored in several items.
 */
export const MAX_SCOPE_BYTES = 16 * 1024;

/** Applied state past this is refused before the PATCH that would need to record it. */
export const MAX_APPLIED_BYTES = 380 * 1024;

// Checked at load: a change to the id rules that breaks the bound fails every test at once.
if (MAX_INDEX_ENTRIES * (MAX_INDEX_ENTRY_BYTES + 1) + INDEX_ITEM_OVERHEAD_BYTES > ITEM_LIMIT_BYTES) {
  throw new Error('MAX_INDEX_ENTRIES does not fit one DynamoDB item at the longest ids');
}

/** The bytes DynamoDB counts for one attribute: its name and its value (strings and numbers approximated high). */
export function attributeBytes(name: string, value: unknown): number {
  const n = Buffer.byteLength(name, 'utf8');
  if (typeof value === 'string') return n + Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return n + 21;
  return n + Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}
