/** A tiny undici wrapper for stand-in tests: one call, the whole answer, JSON parsed when it parses. */
import { request } from 'undici';

export interface CallOptions {
  /** Bearer key; null sends no Authorization header. */
  key?: string | null;
  /** An object is sent as JSON with Content-Type application/json; a string is sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Client-side deadline (AbortSignal.timeout: precise, unlike undici's coarse headersTimeout). */
  timeoutMs?: number;
}

export interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export async function call(base: string, method: string, path: string, o: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = {};
  if (o.key) headers['authorization'] = `Bearer ${o.key}`;
  let body: string | undefined;
  if (typeof o.body === 'string') body = o.body;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] = 'application/json';
  }
  Object.assign(headers, o.headers);
  const res = await request(base + path, {
    method: method as 'GET',
    headers,
    ...(body !== undefined ? { body } : {}),
    ...(o.timeoutMs !== undefined ? { signal: AbortSignal.timeout(o.timeoutMs) } : {}),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}
