/**
 * Nango's per-account rate limit: a fixed window that starts with the first request after the
 * previous window ended (60 s on the real server; tests scale it down). Like the real server, the
 * reset header is the window's end in epoch seconds rounded DOWN, and Retry-After the whole seconds
 * left, rounded down: both can name a moment before the window really ends.
 */
export interface RateLimitConfig {
  limit: number;
  windowMs: number;
}

/**
 * When a test configures no limit: the real server meters every account, so every authenticated
 * answer still carries X-RateLimit-*, but with a budget no test comes near, so nothing is slowed.
 */
export const DEFAULT_RATE_LIMIT: RateLimitConfig = { limit: 1_000_000, windowMs: 60_000 };

export interface RateDecision {
  allowed: boolean;
  headers: Record<string, string>;
  /** Seconds, rounded down like the real server, so it can be 0. Only when not allowed. */
  retryAfter?: number;
}

export class FixedWindow {
  private start = 0;
  private count = 0;

  constructor(private readonly cfg: RateLimitConfig) {
    if (!(cfg.limit >= 1) || !(cfg.windowMs >= 1)) throw new Error('rateLimit: limit and windowMs must be >= 1');
  }

  hit(now = Date.now()): RateDecision {
    if (now >= this.start + this.cfg.windowMs) {
      this.start = now;
      this.count = 0;
    }
    this.count++;
    const end = this.start + this.cfg.windowMs;
    const headers = {
      'X-RateLimit-Limit': String(this.cfg.limit),
      'X-RateLimit-Remaining': String(Math.max(0, this.cfg.limit - this.count)),
      'X-RateLimit-Reset': String(Math.floor(end / 1000)),
    };
    if (this.count <= this.cfg.limit) return { allowed: true, headers };
    return { allowed: false, headers, retryAfter: Math.max(0, Math.floor((end - now) / 1000)) };
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}
