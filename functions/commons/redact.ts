/**
 * Scrubs secrets out of text and JSON before anything is logged, stored or printed. A server (or a
 * proxy or WAF in front of it) may echo the request's Authorization header in its error body; the
 * AWS SDK and undici may quote what they were given. Every error text crosses this on its way out.
 */
export const REDACTED = '[REDACTED]';

/** Shorter strings are not treated as secrets: scrubbing them would garble ordinary text. */
const MIN_SECRET_LENGTH = 8;

/** Removes every occurrence of each secret (and so `Bearer <secret>`), case-sensitively and as given. */
export function redactText(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < MIN_SECRET_LENGTH) continue;
    if (out.includes(s)) out = out.split(s).join(REDACTED);
    // Percent-encoded or JSON-escaped echoes of the same value.
    const encoded = encodeURIComponent(s);
    if (encoded !== s && out.includes(encoded)) out = out.split(encoded).join(REDACTED);
  }
  return out;
}

/** The same for any JSON-like value: strings are scrubbed, keys too; structure is kept. */
export function redactValue<T>(value: T, secrets: readonly (string | undefined)[], depth = 0): T {
  if (typeof value === 'string') return redactText(value, secrets) as T;
  if (value === null || typeof value !== 'object' || depth > 64) return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secrets, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[redactText(k, secrets)] = redactValue(v, secrets, depth + 1);
  return out as T;
}

/**
 * The secrets this process has seen, so that code far from where a key was read (a logger, an
 * envelope builder) can scrub it. Keys are registered when read and never removed: a rotated-out
 * key is still a secret.
 */
const known = new Set<string>();
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= MIN_SECRET_LENGTH) known.add(secret);
}
export const knownSecrets = (): readonly string[] => [...known];
export const redact = (text: string): string => redactText(text, knownSecrets());
export const redactAll = <T>(value: T): T => redactValue(value, knownSecrets());
