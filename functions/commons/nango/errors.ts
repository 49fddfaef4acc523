/**
 * One error type for everything that can go wrong talking to Nango, already classified by the
 * failure table (permanent, transient, auth). Its text is built from response bodies and exceptions,
 * which a server, a proxy or undici may fill with what the request carried: every message and
 * `errors` value is scrubbed of the known secrets (and of the key the caller names) and bounded, so
 * it can go to a log or a DLQ message as is.
 */
import type { Failure } from '../dlq-envelope.ts';
import { knownSecrets, redactText, redactValue } from '../redact.ts';

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

  toFailure(): Failure {
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

const MAX_EXCERPT = 300;

/**
 * Parse an error body leniently: real Nango bodies carry keys (payload, method, path) the spec's
 * StdError forbids, some proxies answer HTML, and 429 comes without a message. `secrets` are the
 * values the request carried (the key), scrubbed wherever the body echoes them.
 */
export function errorFromResponse(
  status: number,
  contentType: string | undefined,
  text: string,
  retryAfterMs?: number,
  secrets: readonly (string | undefined)[] = [],
): NangoError {
  const kind = kindForStatus(status);
  const make = (code: string, message: string, errors?: unknown) =>
    new NangoError(kind, code, message, status, errors, retryAfterMs, secrets);
  let json: unknown;
  if (contentType?.includes('json') || text.startsWith('{')) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  const err = (json as { error?: unknown } | undefined)?.error;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; errors?: unknown };
    const code = typeof e.code === 'string' && e.code ? e.code : `http_${status}`;
    const message = typeof e.message === 'string' && e.message ? e.message : `Nango answered ${status} ${code}`;
    return make(code, message, e.errors);
  }
  if (typeof err === 'string' && err) return make(`http_${status}`, err);
  const msg = (json as { message?: unknown } | undefined)?.message;
  if (json && typeof json === 'object' && typeof msg === 'string' && msg) return make(`http_${status}`, msg);
  // Not JSON we know: an HTML page from Express ("Cannot PATCH ...") or a proxy. A short, tag-free,
  // scrubbed excerpt (scrubbed before cutting, so a key cut in half cannot survive).
  const excerpt = redactText(text, [...secrets, ...knownSecrets()])
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, MAX_EXCERPT);
  return make('non_json_response', `Nango answered ${status} with ${contentType ?? 'no content type'}${excerpt ? `: ${excerpt}` : ''}`);
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
