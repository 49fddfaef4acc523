/**
 * What the CLIs print when something fails, and the scrub every printed text passes through. Every
 * failure leaves a CLI as one line saying what went wrong and what to do, with an exit code scripts
 * can branch on; AWS SDK errors are mapped here so no stack trace or SDK jargon reaches the terminal.
 */
import { REDACTED, redact } from '#commons/redact';

export const EXIT = {
  ok: 0,
  /** The command ran but some messages could not be replayed (they stay in the DLQ). */
  failed: 1,
  /** Bad input or environment: unknown option, unknown queue, no credentials, no TTY for purge. */
  usage: 2,
  interrupted: 130,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** What the request was about, so the message can name the queue or stack. */
export interface ErrorContext {
  queueUrl?: string | undefined;
  stack?: string | undefined;
  endpoint?: string | undefined;
}

export function describeError(err: unknown, ctx: ErrorContext = {}): CliError {
  if (err instanceof CliError) return err;
  const e = (err ?? {}) as { name?: string; message?: string; Code?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? '';
  const code = e.Code ?? e.code ?? '';
  const message = e.message ?? String(err);
  const queue = ctx.queueUrl ? ` ${ctx.queueUrl}` : '';
  const is = (...names: string[]) => names.includes(name) || names.includes(code);

  if (is('QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue')) {
    return new CliError(
      `queue does not exist:${queue}. Check the queue URL (or --stack), the region, and AWS_ENDPOINT_URL_SQS for a local pipeline.`,
    );
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return new CliError(
      'no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for the local pipeline any non-empty values do).',
    );
  }
  if (/region is missing/i.test(message)) return new CliError('no AWS region: set AWS_REGION (or pass --region).');
  if (name === 'ValidationError' && ctx.stack && /does not exist/i.test(message)) {
    return new CliError(`stack ${ctx.stack} does not exist in this account and region.`);
  }
  if (name === 'AccessDeniedException' || is('AccessDenied') || /not authorized/i.test(message)) {
    return new CliError(`access denied${queue ? ` on${queue}` : ''}: ${firstLine(message)}`);
  }
  if (is('PurgeQueueInProgress', 'AWS.SimpleQueueService.PurgeQueueInProgress')) {
    return new CliError(`a purge of${queue} ran less than 60 seconds ago; SQS allows one per minute. Try again shortly.`, EXIT.failed);
  }
  if (
    ['UnsupportedOperation', 'UnknownOperationException', 'InvalidAction'].includes(name) ||
    /unknown action|not (yet )?(supported|implemented)/i.test(message)
  ) {
    return new CliError(
      `this SQS endpoint does not support the operation (${name || code || 'unsupported'}). fauxqs and the local pipeline lack StartMessageMoveTask: use \`replay\` without --native.`,
    );
  }
  const net = networkCode(err, /^(ECONNREFUSED|ENOTFOUND|ECONNRESET|ETIMEDOUT|EAI_AGAIN|EHOSTUNREACH)$/);
  if (net) {
    return new CliError(
      `cannot reach ${ctx.endpoint ?? 'the AWS endpoint'} (${net}). Is the endpoint right and the server running?`,
      EXIT.failed,
    );
  }
  const status = e.$metadata?.httpStatusCode;
  return new CliError(`${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${firstLine(message)}`, EXIT.failed);
}

/** The first `code` along the cause chain that matches. */
export function networkCode(err: unknown, pattern = /./): string | undefined {
  for (let c: unknown = err, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && pattern.test(code)) return code;
  }
  return undefined;
}

const firstLine = (s: string) => s.split('\n')[0] ?? s;

/**
 * `Bearer <token>` / `Basic <token>`, as a header value or quoted in text. A token holds a digit
 * (Nango's keys are UUIDs), so prose such as "Basic authentication failed" is left alone.
 */
const SCHEME_TOKEN = /\b(Bearer|Basic)(\s+|%20)(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}/gi;
/** `authorization: <value>`, `"authorization":"<value>"`, `Authorization=<value>` without a scheme. */
const HEADER_VALUE =
  /(authorization\\?["']?\s*[:=]\s*\\?["']?)(?!\[REDACTED\]|Bearer\b|Basic\b)(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}/gi;

/**
 * The last line of defence before anything reaches the terminal: the runtime's scrub of every key
 * this process has read, then, for keys it never saw (an older version stored an echoed
 * Authorization header in an envelope), any credential after `Bearer`/`Basic` or an authorization
 * header name. Applied before any cut, so no key is ever cut into a printable prefix.
 */
export function scrub(text: string): string {
  return redact(text)
    .replace(SCHEME_TOKEN, (_m, scheme: string, sp: string) => `${scheme}${sp}${REDACTED}`)
    .replace(HEADER_VALUE, (_m, head: string) => `${head}${REDACTED}`);
}

/** The same over a JSON-like value: every string (and key) is scrubbed; structure is kept. */
export function scrubValue<T>(v: T, depth = 0): T {
  if (typeof v === 'string') return scrub(v) as T;
  if (v === null || typeof v !== 'object' || depth > 64) return v;
  if (Array.isArray(v)) return v.map((x) => scrubValue(x, depth + 1)) as T;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [scrub(k), scrubValue(x, depth + 1)])) as T;
}
