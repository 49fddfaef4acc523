/**
 * The one failure policy, shared by every stage. Any exception becomes a classified NangoError (the
 * one failure type: Nango's, but also DynamoDB's, SQS's and Secrets Manager's); then:
 * - permanent: park the work in the stage's DLQ at once, with the error;
 * - transient: on the record's last allowed receive, park it with the last error (never let SQS move
 *   it bare); otherwise hand it back to SQS, with a visibility that honours Retry-After.
 */
import type { SQSRecord } from 'aws-lambda';
import { NangoError, errorFromException } from './nango/errors.ts';
import { AttemptsExhausted } from './retry.ts';
import { receiveCount } from './sqs-record.ts';

const THROTTLING = /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded|TooManyRequests|LimitExceeded|SlowDown/i;
/** Right after a deploy, IAM and KMS grants take seconds to propagate: retried, and parked only on the last receive. */
const PROPAGATING = /AccessDenied|KMS/i;

/** Classifies anything thrown: Nango's errors as they are, AWS SDK errors by fault and name, the rest as network failures. */
export function classify(e: unknown): NangoError {
  const cause = e instanceof AttemptsExhausted ? e.cause : e;
  if (cause instanceof NangoError) return cause;
  const aws = cause as { name?: string; message?: string; $fault?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (aws && typeof aws === 'object' && aws.$metadata) {
    const status = aws.$metadata.httpStatusCode;
    const name = aws.name ?? 'AwsError';
    // No status: the request got no answer (connect timeout, reset), which a retry may well get.
    const transient =
      status === undefined ||
      status >= 500 ||
      aws.$fault === 'server' ||
      aws.$retryable !== undefined ||
      THROTTLING.test(name) ||
      PROPAGATING.test(name);
    return new NangoError(transient ? 'transient' : 'permanent', name, `${name}: ${aws.message ?? 'AWS request failed'}`, status);
  }
  return errorFromException(cause);
}

export const attemptsOf = (e: unknown): number => (e instanceof AttemptsExhausted ? e.attempts : 1);

/** Visibility for a hand-back: Retry-After when the server gave one, clamped to SQS's 12-hour maximum. */
export function handBackSeconds(error: NangoError): number | undefined {
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
export function settle<T>(items: readonly T[], error: NangoError, recordOf: (t: T) => SQSRecord, maxReceiveCount: number): Settlement<T> {
  if (!error.retryable) return { park: [...items], handBack: [], visibilitySeconds: undefined };
  const park = items.filter((i) => receiveCount(recordOf(i)) >= maxReceiveCount);
  const handBack = items.filter((i) => !park.includes(i));
  return { park, handBack, visibilitySeconds: handBackSeconds(error) };
}
