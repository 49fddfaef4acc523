/**
 * Errors the operator can act on. Every failure leaves the CLI as one line saying what went wrong
 * and what to do, with an exit code scripts can branch on; AWS SDK errors are mapped here so no
 * stack trace or SDK jargon reaches the terminal.
 */
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

interface AwsLikeError {
  name?: string;
  message?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/** What the request was about, so the message can name the queue or stack. */
export interface ErrorContext {
  queueUrl?: string | undefined;
  stack?: string | undefined;
  endpoint?: string | undefined;
}

export function describeError(err: unknown, ctx: ErrorContext = {}): CliError {
  if (err instanceof CliError) return err;
  const e = (err ?? {}) as AwsLikeError;
  const name = e.name ?? '';
  const code = e.Code ?? e.code ?? '';
  const message = e.message ?? String(err);
  const queue = ctx.queueUrl ? ` ${ctx.queueUrl}` : '';

  if (
    name === 'QueueDoesNotExist' ||
    code === 'AWS.SimpleQueueService.NonExistentQueue' ||
    name === 'AWS.SimpleQueueService.NonExistentQueue'
  ) {
    return new CliError(
      `queue does not exist:${queue}. Check the queue URL (or --stack), the region, and AWS_ENDPOINT_URL_SQS for a local pipeline.`,
    );
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return new CliError(
      'no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for the local pipeline any non-empty values do).',
    );
  }
  if (/region is missing/i.test(message)) {
    return new CliError('no AWS region: set AWS_REGION (or pass --region).');
  }
  if (name === 'ValidationError' && ctx.stack && /does not exist/i.test(message)) {
    return new CliError(`stack ${ctx.stack} does not exist in this account and region.`);
  }
  if (name === 'AccessDenied' || name === 'AccessDeniedException' || code === 'AccessDenied' || /not authorized/i.test(message)) {
    return new CliError(`access denied${queue ? ` on${queue}` : ''}: ${firstLine(message)}`);
  }
  if (name === 'PurgeQueueInProgress' || code === 'AWS.SimpleQueueService.PurgeQueueInProgress') {
    return new CliError(`a purge of${queue} ran less than 60 seconds ago; SQS allows one per minute. Try again shortly.`, EXIT.failed);
  }
  if (
    name === 'UnsupportedOperation' ||
    name === 'UnknownOperationException' ||
    name === 'InvalidAction' ||
    /unknown action|not (yet )?(supported|implemented)/i.test(message)
  ) {
    return new CliError(
      `this SQS endpoint does not support the operation (${name || code || 'unsupported'}). fauxqs and the local pipeline lack StartMessageMoveTask: use \`replay\` without --native.`,
    );
  }
  const net = networkCode(err);
  if (net) {
    return new CliError(
      `cannot reach ${ctx.endpoint ?? 'the AWS endpoint'} (${net}). Is the endpoint right and the server running?`,
      EXIT.failed,
    );
  }
  const status = e.$metadata?.httpStatusCode;
  return new CliError(`${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${firstLine(message)}`, EXIT.failed);
}

function networkCode(err: unknown): string | undefined {
  for (let c: unknown = err, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|ECONNRESET|ETIMEDOUT|EAI_AGAIN|EHOSTUNREACH)$/.test(code)) return code;
  }
  return undefined;
}

const firstLine = (s: string) => s.split('\n')[0] ?? s;
