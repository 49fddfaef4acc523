/**
 * One error type for everything that can go wrong talking to Nango, already classified by DESIGN.md's
 * failure table. Built only from response bodies and local facts, never from the request, so the
 * secret key cannot leak through an error message.
 */
import type { Failure } from '../dlq-envelope.ts';

export type FailureKind = 'permanent' | 'transient' | 'auth';

export class NangoError extends Error {
  override readonly name = 'NangoError';
  constructor(
    readonly kind: FailureKind,
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly errors?: unknown,
    /** From Retry-After (429) in milliseconds, already raised to the 1 s floor. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
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

/** 401 is its own kind (re-fetch the key once); 408/429/5xx are transient; other 4xx are permanent. */
export function kindForStatus(status: number): FailureKind {
  if (status === 401) return 'auth';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return 'permanent';
}

const MAX_TEXT = 300;

/**
 * Parse an error body leniently: real Nango bodies carry keys (payload, method, path) the spec's
 * StdError forbids, some proxies answer HTML, and 429 comes without a message.
 */
export function errorFromResponse(status: number, contentType: string | undefined, text: string, retryAfterMs?: number): NangoError {
  const kind = kindForStatus(status);
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
    return new NangoError(kind, code, message.slice(0, 2000), status, e.errors, retryAfterMs);
  }
  if (typeof err === 'string') return new NangoError(kind, `http_${status}`, err.slice(0, 2000), status, undefined, retryAfterMs);
  if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string') {
    return new NangoError(
      kind,
      `http_${status}`,
      String((json as { message: string }).message).slice(0, 2000),
      status,
      undefined,
      retryAfterMs,
    );
  }
  // Not JSON: an HTML page from Express ("Cannot PATCH ...") or a proxy. Keep a short, tag-free excerpt.
  const excerpt = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, MAX_TEXT);
  return new NangoError(
    kind,
    'non_json_response',
    `Nango answered ${status} with ${contentType ?? 'no content type'}${excerpt ? `: ${excerpt}` : ''}`,
    status,
    undefined,
    retryAfterMs,
  );
}

/** Network-level failures (reset, refused, timeouts) are transient. */
export function errorFromException(e: unknown): NangoError {
  if (e instanceof NangoError) return e;
  const err = e as { code?: string; name?: string; message?: string };
  const code = err.code ?? err.name ?? 'network_error';
  const timeout = /TIMEOUT|TimeoutError|AbortError/i.test(`${code} ${err.name ?? ''}`);
  return new NangoError(
    'transient',
    timeout ? 'timeout' : 'network_error',
    `request to Nango failed: ${code}${err.message ? ` (${err.message})` : ''}`,
  );
}
