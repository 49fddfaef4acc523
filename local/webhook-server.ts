/**
 * The webhook function behind a local "function URL": an HTTP server on 127.0.0.1 that turns each
 * request into the event Lambda's function URLs send and answers with the handler's result.
 */
import type { Context, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { listenOnLoopback, type LoopbackServer } from './standins/loopback-server.ts';
import { makeContext } from './event-source.ts';

type UrlHandler = (event: LambdaFunctionURLEvent, context: Context) => Promise<LambdaFunctionURLResult>;

export interface WebhookDelivery {
  at: number;
  status: number;
  body: string;
}

export interface LocalWebhook extends LoopbackServer {
  deliveries(): WebhookDelivery[];
  /** Requests refused with 429 by the reserved-concurrency cap, before the handler ran. */
  throttled(): number;
}

/**
 * A function URL's limits under reserved concurrency N: at most N invocations at once and 10 x N
 * requests a second; past either, 429 before the function runs.
 */
export interface WebhookCap {
  reservedConcurrency: number;
}

export async function startWebhookServer(
  handler: UrlHandler,
  o: { timeoutMs?: number; maxBodyBytes?: number; cap?: WebhookCap } = {},
): Promise<LocalWebhook> {
  const seen: WebhookDelivery[] = [];
  let inFlight = 0;
  let windowStart = 0;
  let inWindow = 0;
  let throttled = 0;
  const admit = (): boolean => {
    if (!o.cap) return true;
    const now = Date.now();
    if (now - windowStart >= 1_000) {
      windowStart = now;
      inWindow = 0;
    }
    if (inFlight >= o.cap.reservedConcurrency || inWindow >= 10 * o.cap.reservedConcurrency) return false;
    inWindow++;
    return true;
  };
  const server = await listenOnLoopback((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Function URLs refuse payloads over 6 MB before the function runs.
      if (size <= 6 * 1024 * 1024) chunks.push(c);
    });
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
      const event = {
        version: '2.0',
        rawPath: (req.url ?? '/').split('?')[0],
        rawQueryString: (req.url ?? '').split('?')[1] ?? '',
        headers,
        isBase64Encoded: true,
        body: body.toString('base64'),
        requestContext: {
          http: {
            method: req.method ?? 'POST',
            path: req.url ?? '/',
            protocol: 'HTTP/1.1',
            sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
            userAgent: '',
          },
        },
      } as unknown as LambdaFunctionURLEvent;
      if (!admit()) {
        throttled++;
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end('{"Message":"Rate Exceeded."}');
        return;
      }
      inFlight++;
      let result: LambdaFunctionURLResult;
      try {
        result =
          size > 6 * 1024 * 1024
            ? { statusCode: 413, body: '' }
            : await handler(event, makeContext('nango-metadata-sync-webhook', 'local', o.timeoutMs ?? 10_000));
      } catch {
        result = { statusCode: 502, body: '' };
      } finally {
        inFlight--;
      }
      const r = typeof result === 'string' ? { statusCode: 200, body: result } : result;
      seen.push({ at: Date.now(), status: r.statusCode ?? 200, body: String(r.body ?? '') });
      res.writeHead(r.statusCode ?? 200, { 'content-type': 'application/json' });
      res.end(r.body ?? '');
    });
  });
  return { ...server, deliveries: () => [...seen], throttled: () => throttled };
}
