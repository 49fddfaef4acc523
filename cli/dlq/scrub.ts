/**
 * The last line of defence before anything reaches the terminal: every text the tool prints passes
 * through `scrub`. It removes the Nango keys this process has read (registered with registerSecret
 * where they are obtained) and, for keys it never saw (an older version stored an echoed
 * Authorization header in an envelope), any credential that follows `Bearer`/`Basic` or an
 * `authorization` header name. Scrubbing happens before any truncation, so no key is ever cut into
 * a printable prefix.
 */
import { REDACTED, redact } from '#commons/redact';

/**
 * `Bearer <token>` / `Basic <token>`, as a header value or quoted in text. A token holds a digit
 * (Nango's keys are UUIDs), so prose such as "Basic authentication failed" is left alone.
 */
const SCHEME_TOKEN = /\b(Bearer|Basic)(\s+|%20)(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}/gi;
/** `authorization: <value>`, `"authorization":"<value>"`, `Authorization=<value>` without a scheme. */
const HEADER_VALUE =
  /(authorization\\?["']?\s*[:=]\s*\\?["']?)(?!\[REDACTED\]|Bearer\b|Basic\b)(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}/gi;

export function scrub(text: string): string {
  return redact(text)
    .replace(SCHEME_TOKEN, (_m, scheme: string, sp: string) => `${scheme}${sp}${REDACTED}`)
    .replace(HEADER_VALUE, (_m, head: string) => `${head}${REDACTED}`);
}

/** The same over a JSON-like value: every string (and key) is scrubbed; structure is kept. */
export function scrubValue<T>(value: T): T {
  // `scrub` redacts the known keys itself: one walk does all.
  return walk(value) as T;
}

function walk(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return scrub(v);
  if (v === null || typeof v !== 'object' || depth > 64) return v;
  if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[scrub(k)] = walk(x, depth + 1);
  return out;
}
