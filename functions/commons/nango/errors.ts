/**
 * Nango's answers as Failures. A server, a proxy or undici may fill an error body with what the
 * request carried: every message and `errors` value is scrubbed of the key and bounded (Failure does
 * that), so it can go to a log or a DLQ message as is.
 */
import { Failure, type FailureKind } from '../failure.ts';
import { knownSecrets, quotedAcross, redactText, tracesSecret, WITHHELD } from '../redact.ts';

export { errorFromException } from '../failure.ts';

/** What an HTTP status says happened (the client fetches the key again once on 401 before giving up). */
export function kindForStatus(status: number): FailureKind {
  if (status === 401) return 'unauthorized';
  if (status === 408) return 'timeout';
  if (status === 429) return 'throttled';
  return status >= 500 ? 'unavailable' : 'refused';
}

/** The most of a response an error keeps: enough to tell one failure from another. */
export const MAX_EXCERPT = 300;
/** An error answer is read up to this much; past it, the answer is `response_too_large`. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** A code from a response is kept only in this shape (Nango's are snake_case words). */
const CODE_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * A short, readable excerpt of untrusted text: markup and entities dropped, runs that could be
 * encoded data (40 or more base64 characters) replaced, whitespace collapsed, cut to MAX_EXCERPT.
 * Scrubbed after this normalisation and again as a whole, so no piece of a cut key survives either way.
 */
export function excerptOf(text: string, secrets: readonly (string | undefined)[] = []): string {
  const all = [...secrets, ...knownSecrets()];
  const normalised = redactText(text.slice(0, MAX_ERROR_BODY_BYTES), all)
    .replace(/<[^>]*>/g, ' ')
    .replace(/&[#a-z0-9]{1,10};/gi, ' ')
    .replace(/[A-Za-z0-9+/]{40,}={0,2}/g, '[data]')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, MAX_EXCERPT);
  return redactText(normalised, all);
}

/**
 * An error from Nango's answer keeps only its status, a code and a short excerpt: a server, a proxy
 * or a WAF may echo anything the request carried, transformed in ways no scrubber lists, so nothing
 * else of the body (no `errors`, no `payload`) is kept. Parsed leniently: real Nango bodies carry keys
 * (payload, method, path) the spec's StdError forbids, some proxies answer HTML, 429 comes without a
 * message. `secrets` are the values the request carried (the key).
 */
export function errorFromResponse(
  status: number,
  contentType: string | undefined,
  text: string,
  retryAfterMs?: number,
  secrets: readonly (string | undefined)[] = [],
  truncated = false,
): Failure {
  const kind = kindForStatus(status);
  const all = [...secrets, ...knownSecrets()];
  let json: unknown;
  if (!truncated && (contentType?.includes('json') || text.startsWith('{'))) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  const err = (json as { error?: unknown } | undefined)?.error;
  let code = `http_${status}`;
  let what = text;
  /** A StdError's message and details: a key cut into them and the code is looked for in any order. */
  let fields: string[] | undefined;
  let codeFromBody = false;
  if (truncated) code = 'response_too_large';
  else if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; errors?: unknown };
    if (typeof e.code === 'string' && CODE_RE.test(e.code)) {
      code = e.code;
      codeFromBody = true;
    }
    const parts = [typeof e.message === 'string' ? e.message : '', e.errors === undefined ? '' : safeJson(e.errors)];
    what = parts.filter(Boolean).join(' ');
    fields = parts.map((f) => f.slice(0, MAX_ERROR_BODY_BYTES));
  } else if (typeof err === 'string') what = err;
  else if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string')
    what = (json as { message: string }).message;
  else if (json === undefined) code = contentType?.includes('json') || !text ? code : 'non_json_response';
  // A key split across code and message hides in neither alone: when the two together carry a
  // piece of it, the code gives way to the status, and the excerpt is withheld below.
  const jointWithheld = quotedAcross([code, ...(fields ?? [what.slice(0, MAX_ERROR_BODY_BYTES)])], all);
  if (codeFromBody && (jointWithheld || redactText(code, all) !== code)) code = `http_${status}`;
  const excerpt = excerptOf(what, secrets);
  const head = truncated
    ? `Nango answered ${status} with more than ${MAX_ERROR_BODY_BYTES / 1024} KiB (${contentType ?? 'no content type'})`
    : code === 'non_json_response'
      ? `Nango answered ${status} with ${contentType ?? 'no content type'}`
      : `Nango answered ${status} ${code}`;
  const own = code !== 'non_json_response' && !truncated;
  const message =
    jointWithheld || tracesSecret(excerpt, all) ? `${head}: ${WITHHELD}` : !excerpt ? head : own ? excerpt : `${head}: ${excerpt}`;
  return new Failure({ source: 'nango', kind, code, message, status, retryAfterMs, secrets });
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, MAX_ERROR_BODY_BYTES) ?? '';
  } catch {
    return '';
  }
}
