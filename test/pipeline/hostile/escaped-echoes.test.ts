/**
 * A server that quotes the request's Authorization header as an escaped string (a JSON body with
 * `\u0033`-style escapes, which any JSON reader turns back into the key, or a `\x33`-style dump):
 * through the real client (undici) against a server on 127.0.0.1, no such echo survives into the
 * error's message, its code, its DLQ record, or what the logger's scrubber lets through.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpNangoClient } from '#commons/nango/http-client';
import { Failure } from '#commons/failure';
import { redact } from '#commons/redact';
import { staticKeyProvider } from '#commons/secrets';

/** What one PATCH through `client` was refused with (undefined if it was not). */
const patchError = (client: HttpNangoClient): Promise<unknown> =>
  client.patchMetadata({ connectionId: 'c1', providerConfigKey: 'hubspot' }, { seats: 1 }, { deadline: Date.now() + 5_000 }).then(
    () => undefined,
    (x: unknown) => x,
  );
const KEY = randomUUID();

const jsonEscaped = (s: string) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
const hexEscaped = (s: string) => [...s].map((c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');

/** Each: the content type and the body the server answers, given the Authorization header it got. */
const FORMS: Record<string, (auth: string) => [string, string]> = {
  'JSON escapes in a body that is not a StdError': (auth) => ['application/json', `{"detail":"you sent ${jsonEscaped(auth)}"}`],
  'JSON escapes in a StdError message': (auth) => [
    'application/json',
    `{"error":{"code":"invalid_header","message":"header ${jsonEscaped(auth)}"}}`,
  ],
  'JSON escapes in an array body': (auth) => ['application/json', `[{"message":"${jsonEscaped(auth)}"}]`],
  'JSON escapes, upper-case hex': (auth) => ['application/json', `{"detail":"${jsonEscaped(auth).toUpperCase().replace(/\\U/g, '\\u')}"}`],
  'hex escapes in a text page': (auth) => ['text/plain', `rejected header: ${hexEscaped(auth)}`],
};
const names = Object.keys(FORMS);

/** Whether `text`, with every escape a reader would undo undone, still carries 12 of the key's letters and digits in a row. */
function leaks(text: string): boolean {
  const unescaped = text
    .replace(/\\+u\{?([0-9a-f]{1,6})\}?/gi, (_, h: string) => String.fromCodePoint(Number.parseInt(h, 16)))
    .replace(/\\+x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  const sk = unescaped.toLowerCase().replace(/[^a-z0-9]/g, '');
  const k = KEY.toLowerCase().replace(/[^a-z0-9]/g, '');
  for (let i = 0; i + 12 <= k.length; i++) if (sk.includes(k.slice(i, i + 12))) return true;
  return false;
}

let server: Server;
let host: string;
let form = names[0]!;
let answered = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const [type, body] = FORMS[form]!(req.headers.authorization ?? '');
      answered++;
      res.writeHead(400, { 'content-type': type }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('escaped echoes of the key', () => {
  it('the detector sees each form as the server sends it', () => {
    for (const n of names) expect(leaks(FORMS[n]!(`Bearer ${KEY}`)[1]), n).toBe(true);
  });

  it.each(names)('%s: not in the error, its record, or a scrubbed log line', async (name) => {
    form = name;
    const before = answered;
    const client = new HttpNangoClient({ host, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
    try {
      const e = await patchError(client);
      expect(answered).toBe(before + 1);
      expect(e).toBeInstanceOf(Failure);
      const f = e as Failure;
      expect(f.status).toBe(400);
      expect(leaks(f.message)).toBe(false);
      expect(leaks(f.code)).toBe(false);
      expect(leaks(JSON.stringify(f.toRecord()))).toBe(false);
      // What the logger does to any text it is handed.
      expect(leaks(redact(FORMS[name]!(`Bearer ${KEY}`)[1]))).toBe(false);
    } finally {
      await client.close();
    }
  });
});

describe('the key cut in pieces across the fields, in any order', () => {
  it('code, message and errors holding its pieces last to first: not all of them in the error', async () => {
    const pieces = [KEY.slice(0, 12), KEY.slice(12, 24), KEY.slice(24)];
    const f = await failureFrom(JSON.stringify({ error: { code: pieces[2], message: pieces[1], errors: [pieces[0]] } }));
    expect(f.status).toBe(400);
    const shown = JSON.stringify(f.toRecord()).toLowerCase();
    expect(pieces.filter((p) => shown.includes(p.toLowerCase()))).toEqual([]);
  });
});

/** The Failure of a PATCH to a server on 127.0.0.1 that answers 400 with `json`. */
async function failureFrom(json: string): Promise<Failure> {
  const one = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(400, { 'content-type': 'application/json' }).end(json));
  });
  await new Promise<void>((r) => one.listen(0, '127.0.0.1', r));
  const client = new HttpNangoClient({
    host: `http://127.0.0.1:${(one.address() as AddressInfo).port}`,
    endpoint: 'current',
    keys: staticKeyProvider(KEY),
    timeoutMs: 5_000,
  });
  try {
    const e = await patchError(client);
    expect(e).toBeInstanceOf(Failure);
    return e as Failure;
  } finally {
    await client.close();
    await new Promise((r) => one.close(r));
  }
}
