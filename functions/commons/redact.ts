/**
 * Scrubs secrets out of text and JSON before anything is logged, stored or printed. A server (or a
 * proxy or WAF in front of it) may echo the request's Authorization header in its error body; the
 * AWS SDK and undici may quote what they were given. Every error text crosses this on its way out.
 */
export const REDACTED = '[REDACTED]';

/** Shorter strings are not treated as secrets: scrubbing them would garble ordinary text. */
const MIN_SECRET_LENGTH = 8;

/** What replaces a whole text that still carries a transformed trace of a secret. */
export const WITHHELD = '[REDACTED: withheld, it quoted a secret]';

/**
 * Removes every occurrence of each secret (and so `Bearer <secret>`), in any case, as given or
 * percent-encoded. A text that still carries a trace of one (upper-cased, without its dashes, split
 * by markup or spaces, base64-encoded, a 16-character piece of it) is withheld whole: a transformed
 * echo cannot be cut out reliably, and no excerpt is worth the key.
 */
export function redactText(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  const live = secrets.filter((s): s is string => !!s && s.length >= MIN_SECRET_LENGTH);
  for (const s of live) {
    for (const form of new Set([s, encodeURIComponent(s)])) {
      if (out.toLowerCase().includes(form.toLowerCase())) out = out.replace(new RegExp(escapeRegExp(form), 'gi'), REDACTED);
    }
  }
  return live.length && tracesSecret(out, live) ? WITHHELD : out;
}

/**
 * Whether texts shown side by side (an error's code, message and details) carry a secret together,
 * in whatever order its pieces were put in them: each alone may hold too little of it to be seen.
 */
export function quotedAcross(parts: readonly string[], secrets: readonly (string | undefined)[]): boolean {
  const shown = parts.filter(Boolean);
  return orders(shown.slice(0, 4)).some((o) => redactText([...o, ...shown.slice(4)].join(' '), secrets) === WITHHELD);
}

function orders<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => orders([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Letters and digits only, lower-cased: what is left of a value once case, separators and markup are ignored. */
const skeleton = (s: string): string =>
  s
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');

/** A secret counts as quoted when this many of its consecutive letters and digits appear (its last 20 characters hold 18). */
const TRACE_CHARS = 16;

/**
 * Whether `text` carries a secret in a transformed form: compared letter-and-digit skeletons (so case,
 * dashes, spaces, markup and entities do not hide it), on the text as is, percent-decoded, and with
 * every base64 run decoded (`Bearer <key>` and `:<key>`, as Basic auth would carry it), and with
 * backslash escapes undone (`\u0033` as JSON writes a character, `\x33` as a dump does): any JSON reader
 * turns the first back into the key.
 */
export function tracesSecret(text: string, secrets: readonly (string | undefined)[]): boolean {
  const pieces: string[] = [];
  for (const s of secrets) {
    if (!s || s.length < MIN_SECRET_LENGTH) continue;
    // A secret with fewer letters and digits than a piece is matched only as given (above): its
    // skeleton alone would turn up in ordinary words.
    const k = skeleton(s);
    for (let i = 0; i + TRACE_CHARS <= k.length; i++) pieces.push(k.slice(i, i + TRACE_CHARS));
  }
  if (pieces.length === 0) return false;
  const forms = [text, text.replace(/<[^>]*>/g, ''), percentDecoded(text), unescaped(text), ...base64Decodings(text)];
  return forms.some((f) => {
    const sk = skeleton(f);
    return pieces.some((p) => sk.includes(p));
  });
}

/** `\uXXXX`, `\u{X..}` and `\xXX` escapes (with any number of backslashes, as re-escaped JSON has) as their characters. */
function unescaped(text: string): string {
  return text
    .replace(/\\+u\{([0-9a-f]{1,6})\}/gi, (e, h: string) => codePoint(e, h))
    .replace(/\\+u([0-9a-f]{4})/gi, (e, h: string) => codePoint(e, h))
    .replace(/\\+x([0-9a-f]{2})/gi, (e, h: string) => codePoint(e, h));
}

function codePoint(written: string, hex: string): string {
  const n = Number.parseInt(hex, 16);
  return n <= 0x10ffff ? String.fromCodePoint(n) : written;
}

function percentDecoded(text: string): string {
  return text.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/** Each run that could be base64 (standard or URL-safe), decoded from each of the four alignments. */
function base64Decodings(text: string): string[] {
  const out: string[] = [];
  for (const run of text.match(/[A-Za-z0-9+/_-]{12,}={0,2}/g) ?? []) {
    for (let shift = 0; shift < 4; shift++) {
      const part = run.slice(shift).replace(/-/g, '+').replace(/_/g, '/');
      out.push(Buffer.from(part, 'base64').toString('latin1'));
    }
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
