/**
 * One error type for everything that can go wrong talking to Nango, already classified by the
 * failure table (permanent, transient, auth). Its text is built from response bodies and exceptions,
 * which a server, a proxy or undici may fill with what the request carried: every message and
 * `errors` value is scrubbed of the known secrets (and of the key the caller names) and bounded, so
 * it can go to a log or a DLQ message as is.
 */
import type { FailureRecord } from '../dlq-envelope.ts';
import { knownSecrets, redactText, redactValue, tracesSecret, WITHHELD } from '../redact.ts';

export type FailureKind = 'permanent' | 'transient' | 'auth';

export const MAX_MESSAGE = 2000;
/** Entries of an `errors` array kept; the rest are counted. */
export const MAX_ERROR_ENTRIES = 20;
/** Above this much JSON, `errors` is replaced by a summary: a DLQ message must stay replayable. */
export const MAX_ERRORS_JSON = 8 * 1024;

export class NangoError extends Error {
  override readonly name = 'NangoError';
  readonly errors: unknown;

  constructor(
    readonly kind: FailureKind,
    readonly code: string,
    message: string,
    readonly status?: number,
    errors?: unknown,
    /** How long to wait before trying again (429, local rate limit), in milliseconds. */
    readonly retryAfterMs?: number,
    /** Secrets to scrub besides those registered with registerSecret (the key the request carried). */
    secrets: readonly (string | undefined)[] = [],
  ) {
    const all = [...secrets, ...knownSecrets()];
    super(redactText(message, all).slice(0, MAX_MESSAGE));
    this.code = redactText(code, all).slice(0, 200);
    this.errors = errors === undefined ? undefined : boundErrors(redactValue(errors, all));
  }

  get retryable(): boolean {
    return this.kind === 'transient';
  }

  toFailure(): FailureRecord {
    return {
      ...(this.status !== undefined ? { status: this.status } : {}),
      code: this.code,
      message: this.message,
      ...(this.errors !== undefined ? { errors: this.errors } : {}),
      retryable: this.retryable,
    };
  }
}

/**
 * Keeps `errors` small: a long array keeps its first entries and counts the rest; anything still
 * above MAX_ERRORS_JSON of JSON becomes a one-line summary (a validation answer can list thousands).
 */
export function boundErrors(errors: unknown): unknown {
  let out = errors;
  if (Array.isArray(errors) && errors.length > MAX_ERROR_ENTRIES && !isBounded(errors)) {
    out = [...errors.slice(0, MAX_ERROR_ENTRIES), { truncated: errors.length - MAX_ERROR_ENTRIES }];
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(out);
  } catch {
    json = undefined;
  }
  if (json === undefined) return { summary: 'errors could not be serialised' };
  if (json.length <= MAX_ERRORS_JSON) return out;
  const entries = Array.isArray(errors) ? `${errors.length} entries, ` : '';
  return { summary: `errors omitted: ${entries}${json.length} characters of JSON`, excerpt: json.slice(0, 500) };
}

/** Already cut by boundErrors (an error rebuilt from another): cutting again would lose the count. */
function isBounded(errors: unknown[]): boolean {
  const last = errors[errors.length - 1] as { truncated?: unknown } | undefined;
  return errors.length === MAX_ERROR_ENTRIES + 1 && typeof last?.truncated === 'number' && Object.keys(last).length === 1;
}

/** 401 is its own kind (re-fetch the key once); 408/429/5xx are transient; other 4xx are permanent. */
export function kindForStatus(status: number): FailureKind {
  if (status === 401) return 'auth';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return 'permanent';
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
): NangoError {
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
  } else if (typeof err === 'string') what = err;
  else if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string')
    what = (json as { message: string }).message;
  else if (json === undefined) code = contentType?.includes('json') || !text ? code : 'non_json_response';
  // A key split across code and message hides in neither alone: when the two together carry a
  // piece of it, the code gives way to the status, and the excerpt is withheld below.
  const jointWithheld = redactText(`${code} ${what.slice(0, MAX_ERROR_BODY_BYTES)}`, all) === WITHHELD;
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
  return new NangoError(kind, code, message, status, undefined, retryAfterMs, secrets);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, MAX_ERROR_BODY_BYTES) ?? '';
  } catch {
    return '';
  }
}

/** Network-level failures (reset, refused, timeouts) are transient; undici may quote what it was given. */
export function errorFromException(e: unknown, secrets: readonly (string | undefined)[] = []): NangoError {
  if (e instanceof NangoError) return e;
  const err = e as { code?: unknown; name?: unknown; message?: unknown } | null | undefined;
  const code = typeof err?.code === 'string' ? err.code : typeof err?.name === 'string' ? err.name : 'network_error';
  const name = typeof err?.name === 'string' ? err.name : '';
  const message = typeof err?.message === 'string' ? err.message : '';
  const timeout = /TIMEOUT|TimeoutError|AbortError/i.test(`${code} ${name}`);
  return new NangoError(
    'transient',
    timeout ? 'timeout' : 'network_error',
    `request to Nango failed: ${code}${message ? ` (${message})` : ''}`,
    undefined,
    undefined,
    undefined,
    secrets,
  );
}
