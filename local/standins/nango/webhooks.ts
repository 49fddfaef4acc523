/**
 * Nango's auth webhooks: after a connection is created (`creation`) or re-authorised (`override`),
 * a POST of the JSON body to the environment's webhook URL with `X-Nango-Hmac-Sha256` = hex
 * HMAC-SHA256 of the raw body under the webhook signing key; 20 s timeout, 2 retries.
 */
import { createHash, createHmac } from 'node:crypto';
import { request } from 'undici';

export interface WebhookOptions {
  url: string;
  signingKey: string;
  /** Per attempt (Nango: 20 s). */
  timeoutMs?: number;
  /** Retries after the first attempt (Nango: 2). */
  retries?: number;
  /** Wait before retry i (1-based) is backoffMs * 2^(i-1). */
  backoffMs?: number;
}

export interface AuthWebhookBody {
  type: 'auth';
  operation: 'creation' | 'override';
  connectionId: string;
  providerConfigKey: string;
  provider: string;
  environment: 'dev';
  success: true;
  authMode: string;
  tags: Record<string, string>;
}

/** The body Nango sends after a connection was created or re-authorised (a connection without a provider has its integration's key, as in the store). */
export function authWebhookBody(
  c: { connectionId: string; providerConfigKey: string; provider?: string | undefined; tags?: Record<string, string> | undefined },
  operation: AuthWebhookBody['operation'],
  authMode = 'OAUTH2',
): AuthWebhookBody {
  return {
    type: 'auth',
    operation,
    connectionId: c.connectionId,
    providerConfigKey: c.providerConfigKey,
    provider: c.provider ?? c.providerConfigKey,
    environment: 'dev',
    success: true,
    authMode,
    tags: { ...(c.tags ?? {}) },
  };
}

export interface WebhookAttempt {
  at: number;
  /** The receiver's status, or undefined when the request failed (refused, reset, timeout). */
  status?: number;
  error?: string;
}

export interface WebhookDelivery {
  body: AuthWebhookBody;
  /** Exactly the bytes sent and signed. */
  raw: string;
  signature: string;
  /** X-Nango-Signature: sha256 of the signing key and the body. */
  legacySignature: string;
  attempts: WebhookAttempt[];
  /** Undefined while attempts go on. */
  delivered?: boolean;
}

export class WebhookSender {
  private readonly deliveries: WebhookDelivery[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(private readonly opts: WebhookOptions) {}

  send(body: AuthWebhookBody): void {
    const raw = JSON.stringify(body);
    const signature = createHmac('sha256', this.opts.signingKey).update(raw).digest('hex');
    // Nango's older header, sent beside the HMAC: sha256 of key and body together.
    const legacySignature = createHash('sha256').update(`${this.opts.signingKey}${raw}`).digest('hex');
    const d: WebhookDelivery = { body, raw, signature, legacySignature, attempts: [] };
    this.deliveries.push(d);
    const p = this.deliver(d).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async deliver(d: WebhookDelivery): Promise<void> {
    const retries = this.opts.retries ?? 2;
    for (let i = 0; i <= retries; i++) {
      if (this.abort.signal.aborted) break;
      if (i > 0) await sleep((this.opts.backoffMs ?? 200) * 2 ** (i - 1), this.abort.signal);
      const attempt: WebhookAttempt = { at: Date.now() };
      d.attempts.push(attempt);
      try {
        const res = await request(this.opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-nango-hmac-sha256': d.signature, 'x-nango-signature': d.legacySignature },
          body: d.raw,
          signal: AbortSignal.any([AbortSignal.timeout(this.opts.timeoutMs ?? 20_000), this.abort.signal]),
        });
        await res.body.dump();
        attempt.status = res.statusCode;
        if (res.statusCode >= 200 && res.statusCode < 300) {
          d.delivered = true;
          return;
        }
      } catch (e) {
        attempt.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      }
    }
    d.delivered = false;
  }

  list(): WebhookDelivery[] {
    return structuredClone(this.deliveries);
  }

  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Stops retries and cuts requests in flight. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.settled();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
