/**
 * The one failure model and policy, shared by every stage. The adapters describe what went wrong as
 * a Failure (source, kind, code, Retry-After); anything else thrown is described here (`classify`).
 * Only this file decides what a Failure means:
 * - not retryable: park the work in the stage's DLQ at once, with the error;
 * - retryable: on the record's last allowed receive, park it with the last error (never let SQS move
 *   it bare); otherwise hand it back to SQS, with a visibility that honours Retry-After.
 */
import type { SQSRecord } from 'aws-lambda';
import { knownSecrets, redactText, redactValue } from './redact.ts';
import { receiveCount } from './sqs-record.ts';

/**
 * What went wrong, as the adapter that met it describes it. Whether that is worth another attempt is
 * decided here only (`isRetryable`), never where the failure is made.
 */
export type FailureKind =
  /** The service answered no: a 4xx other than those below. */
  | 'refused'
  /** 401, still, after the key was fetched again. */
  | 'unauthorized'
  /** AWS AccessDenied or a KMS refusal. */
  | 'forbidden'
  /** Input rejected before any request: an event, a sync message, an id, a filter, a page. */
  | 'invalid'
  /** A secret, or a server, that cannot work as configured. */
  | 'misconfigured'
  /** More than a cap allows (connections matching one subject). */
  | 'over_limit'
  | 'throttled'
  | 'timeout'
  /** A 5xx, a server fault, a secret that cannot be read now. */
  | 'unavailable'
  /** No answer: reset, refused, DNS. */
  | 'unreachable'
  /** An answer that cannot be read. */
  | 'unexpected';

export type FailureSource = 'nango' | 'aws' | 'network' | 'input';

const RETRIED: ReadonlySet<FailureKind> = new Set(['throttled', 'timeout', 'unavailable', 'unreachable', 'unexpected']);

/**
 * The policy: the kinds above that another attempt may mend. Right after a deploy, AWS IAM and KMS
 * grants take seconds to propagate, so AWS's `forbidden` is retried too (and parked on the last
 * receive); Nango's refusals are not.
 */
export const isRetryable = (f: { kind: FailureKind; source: FailureSource }): boolean =>
  RETRIED.has(f.kind) || (f.kind === 'forbidden' && f.source === 'aws');

export const MAX_MESSAGE = 2000;
/** Entries of an `errors` array kept; the rest are counted. */
export const MAX_ERROR_ENTRIES = 20;
/** Above this much JSON, `errors` is replaced by a summary: a DLQ message must stay replayable. */
export const MAX_ERRORS_JSON = 8 * 1024;

export interface FailureInit {
  source: FailureSource;
  kind: FailureKind;
  code: string;
  message: string;
  /** HTTP status, when there was an answer. */
  status?: number | undefined;
  /** Nango's or zod's details. */
  errors?: unknown;
  /** How long to wait before trying again (429, local rate limit), in milliseconds. */
  retryAfterMs?: number | undefined;
  /** Secrets to scrub besides those registered with registerSecret (the key the request carried). */
  secrets?: readonly (string | undefined)[];
}

/**
 * The one failure type, for Nango, the AWS services, the network and bad input alike. Its text is
 * built from response bodies and exceptions, which a server, a proxy or undici may fill with what the
 * request carried: message, code and `errors` are scrubbed of the known secrets and bounded, so it
 * can go to a log or a DLQ message as is.
 */
export class Failure extends Error {
  override readonly name = 'Failure';
  readonly source: FailureSource;
  readonly kind: FailureKind;
  readonly code: string;
  readonly status: number | undefined;
  readonly errors: unknown;
  readonly retryAfterMs: number | undefined;

  constructor(f: FailureInit) {
    const all = [...(f.secrets ?? []), ...knownSecrets()];
    super(redactText(f.message, all).slice(0, MAX_MESSAGE));
    this.source = f.source;
    this.kind = f.kind;
    this.code = redactText(f.code, all).slice(0, 200);
    this.status = f.status;
    this.errors = f.errors === undefined ? undefined : boundErrors(redactValue(f.errors, all));
    this.retryAfterMs = f.retryAfterMs;
  }

  get retryable(): boolean {
    return isRetryable(this);
  }

  /** The error as a DLQ envelope and the logs carry it. */
  toRecord(): { status?: number; code: string; message: string; errors?: unknown; retryable: boolean } {
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

/** Network-level failures (reset, refused, timeouts) are transient; undici may quote what it was given. */
export function errorFromException(e: unknown, secrets: readonly (string | undefined)[] = []): Failure {
  if (e instanceof Failure) return e;
  const err = e as { code?: unknown; name?: unknown; message?: unknown } | null | undefined;
  const code = typeof err?.code === 'string' ? err.code : typeof err?.name === 'string' ? err.name : 'network_error';
  const name = typeof err?.name === 'string' ? err.name : '';
  const message = typeof err?.message === 'string' ? err.message : '';
  const timeout = /TIMEOUT|TimeoutError|AbortError/i.test(`${code} ${name}`);
  return new Failure({
    source: 'network',
    kind: timeout ? 'timeout' : 'unreachable',
    code: timeout ? 'timeout' : 'network_error',
    message: `request to Nango failed: ${code}${message ? ` (${message})` : ''}`,
    secrets,
  });
}

/** The attempt count travels with the error so the DLQ envelope can report it. */
export class AttemptsExhausted extends Error {
  constructor(
    override readonly cause: unknown,
    readonly attempts: number,
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}

const THROTTLING = /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded|TooManyRequests|LimitExceeded|SlowDown/i;
/** IAM and KMS refusals (see isRetryable). */
const PROPAGATING = /AccessDenied|KMS/i;

/** Anything thrown as a Failure: the adapters' as they are, AWS SDK errors described by fault and name, the rest as network failures. */
export function classify(e: unknown): Failure {
  const cause = e instanceof AttemptsExhausted ? e.cause : e;
  if (cause instanceof Failure) return cause;
  const aws = cause as { name?: string; message?: string; $fault?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (aws && typeof aws === 'object' && aws.$metadata) {
    const status = aws.$metadata.httpStatusCode;
    const name = aws.name ?? 'AwsError';
    // No status: the request got no answer (connect timeout, reset).
    const kind: FailureKind =
      status === undefined
        ? 'unreachable'
        : THROTTLING.test(name)
          ? 'throttled'
          : PROPAGATING.test(name)
            ? 'forbidden'
            : status >= 500 || aws.$fault === 'server' || aws.$retryable !== undefined
              ? 'unavailable'
              : 'refused';
    return new Failure({ source: 'aws', kind, code: name, message: `${name}: ${aws.message ?? 'AWS request failed'}`, status });
  }
  return errorFromException(cause);
}

export const attemptsOf = (e: unknown): number => (e instanceof AttemptsExhausted ? e.attempts : 1);

/** Visibility for a hand-back: Retry-After when the server gave one, clamped to SQS's 12-hour maximum. */
export function handBackSeconds(error: Failure): number | undefined {
  if (error.retryAfterMs === undefined) return undefined;
  return Math.min(43_200, Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
}

export interface Settlement<T> {
  /** Park these with the error (permanent, or transient on the last allowed receive). */
  park: T[];
  /** Give these back to SQS (batchItemFailures), with this visibility when set. */
  handBack: T[];
  visibilitySeconds: number | undefined;
}

/** Decides, for items that failed together with `error`, which are parked and which go back to SQS. */
export function settle<T>(items: readonly T[], error: Failure, recordOf: (t: T) => SQSRecord, maxReceiveCount: number): Settlement<T> {
  if (!error.retryable) return { park: [...items], handBack: [], visibilitySeconds: undefined };
  const park = items.filter((i) => receiveCount(recordOf(i)) >= maxReceiveCount);
  const handBack = items.filter((i) => !park.includes(i));
  return { park, handBack, visibilitySeconds: handBackSeconds(error) };
}

/** Input refused before any request (an event, a sync message), as a DLQ envelope records it. */
export const invalidInput = ({ code, message, errors }: { code: string; message: string; errors?: unknown }) => ({
  code,
  message,
  ...(errors !== undefined ? { errors } : {}),
  retryable: isRetryable({ source: 'input', kind: 'invalid' }),
});
