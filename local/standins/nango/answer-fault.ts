/** Answers an injected fault in place of the normal answer (see faults.ts for the kinds). */
import type http from 'node:http';
import type { Fault } from './faults.ts';
import { escapeHtml, proxyErrorPage, stdError, tooManyRequests } from './wire.ts';

export interface FaultIo {
  res: http.ServerResponse;
  sendJson(status: number, body: unknown, extra?: Record<string, string>): Promise<void>;
  sendRaw(status: number, contentType: string, text: string, extra?: Record<string, string>): Promise<void>;
  finish(status: number): void;
  sleep(ms: number): Promise<void>;
  /** The request's Authorization header as received (only the echo fault reads it). */
  authorization: string;
  rateLimitDefault: number;
  method: string;
  /** Without the query string. */
  path: string;
}

const STATUS_CODES: Record<number, string> = {
  500: 'server_error',
  502: 'bad_gateway',
  503: 'service_unavailable',
  504: 'gateway_timeout',
};

/** Returns false when the request should go on normally (a delay that still applies the write). */
export async function answerFault(fault: Fault, io: FaultIo): Promise<boolean> {
  switch (fault.kind) {
    case 'status': {
      const body =
        fault.body ??
        stdError(fault.code ?? STATUS_CODES[fault.status] ?? `http_${fault.status}`, { message: fault.message ?? 'Injected fault' });
      await io.sendJson(fault.status, body, fault.headers);
      return true;
    }
    case 'rateLimit': {
      // As the real server: the reset is the window's end in seconds rounded down.
      const reset = Math.floor(Date.now() / 1000) + fault.retryAfter;
      await io.sendJson(429, tooManyRequests(io.method, io.path), {
        'Retry-After': String(fault.retryAfter),
        'X-RateLimit-Limit': String(io.rateLimitDefault),
        'X-RateLimit-Remaining': '0',
        'X-RateLimit-Reset': String(reset),
      });
      return true;
    }
    case 'reset':
      io.finish(0);
      io.res.socket?.destroy();
      return true;
    case 'delay':
      await io.sleep(fault.ms);
      if (fault.apply) return false;
      await io.sendRaw(504, 'text/html', proxyErrorPage(504));
      return true;
    case 'html': {
      const status = fault.status ?? 502;
      await io.sendRaw(status, 'text/html', fault.body ?? proxyErrorPage(status));
      return true;
    }
    case 'echoAuth': {
      const status = fault.status ?? 400;
      const auth = io.authorization;
      if (fault.format === 'json') {
        await io.sendJson(
          status,
          stdError('invalid_header', {
            message: `Request rejected: header Authorization: ${auth} is not allowed here`,
            errors: [{ header: 'authorization', value: auth, raw: `Authorization: ${auth}` }, { encoded: encodeURIComponent(auth) }],
            payload: { headers: { authorization: auth } },
          }),
        );
      } else {
        const page = `<html><head><title>${status} Request Rejected</title></head><body><h1>Request Rejected</h1><p>Offending header: Authorization: ${escapeHtml(auth)}</p><p>key=${escapeHtml(auth.replace(/^Bearer /, ''))}</p></body></html>`;
        await io.sendRaw(status, 'text/html', page);
      }
      return true;
    }
  }
}
