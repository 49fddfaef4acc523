/**
 * The webhook's front door, checked before any other work: the secret last segment of the URL, and
 * a sampled log of what was turned away. Nango takes any URL, so the token costs Nango nothing, and a
 * request without it costs us one hash and a count: no body decoding, no secret read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { logger } from '#powertools/logger';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** `rawPath` is exactly `/<token>` (a trailing slash tolerated). Digests make the compare constant-time at any length. */
export function pathTokenMatches(rawPath: string | undefined, token: string): boolean {
  const path = (rawPath ?? '').replace(/\/$/, '');
  return timingSafeEqual(digest(path), digest(`/${token}`));
}

export type RejectReason = 'path' | 'signature_malformed' | 'signature_mismatch';

/**
 * At most one log line per reason per interval and execution environment, with the source IP of the
 * request logged and how many were turned away unlogged since: a flood costs a few lines a minute,
 * and one probe still shows where it came from.
 */
export class RejectionLog {
  private readonly last = new Map<RejectReason, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  note(reason: RejectReason, sourceIp: string | undefined, extra: Record<string, unknown> = {}): boolean {
    const t = this.now();
    const seen = this.last.get(reason);
    if (seen && t - seen.at < this.intervalMs) {
      seen.suppressed++;
      return false;
    }
    logger.warn('webhook request rejected', {
      reason,
      sourceIp: sourceIp ?? 'unknown',
      unloggedSinceLast: seen?.suppressed ?? 0,
      ...extra,
    });
    this.last.set(reason, { at: t, suppressed: 0 });
    return true;
  }
}
