/**
 * Transformed echoes of the Nango secret key, answered by the Nango stand-in to the PATCHes of one
 * customer's connections (one form per connection), go through the real handlers and the DLQ tool:
 * none of them, nor any 12-character piece of the key once case, separators and markup are ignored,
 * reaches what the process prints (logs), the parked envelopes, or `npm run dlq` output.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DlqMessage, type LocalPipeline, startLocalPipeline } from '../../../local/pipeline.ts';
import { dlq } from '../dlq/run-cli.ts';
import { seatsChanged } from '../../support/events.ts';

const KEY = randomUUID();
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Each a way a server, proxy or WAF can quote the key, as a JSON StdError body. */
const FORMS: Record<string, unknown> = {
  'upper-cased': { error: { code: 'invalid_header', message: `bad authorization: BEARER ${KEY.toUpperCase()}` } },
  'without dashes': { error: { code: 'invalid_header', message: `token ${KEY.replace(/-/g, '')} refused` } },
  'base64 of Bearer <key>': { error: { code: 'invalid_header', message: `header was ${b64(`Bearer ${KEY}`)}` } },
  'base64 of :<key>': { error: { code: 'invalid_header', message: `Basic ${b64(`:${KEY}`)}` } },
  'split by markup': {
    error: { code: 'invalid_header', message: `<b>${KEY.slice(0, 11)}</b><i>${KEY.slice(11, 23)}</i>${KEY.slice(23)}` },
  },
  'one character per space': { error: { code: 'invalid_header', message: `key: ${KEY.split('').join(' ')}` } },
  'its last 20 characters': { error: { code: 'invalid_header', message: `key ending ${KEY.slice(-20)} refused` } },
  'split across code and message': { error: { code: KEY.slice(0, 14), message: KEY.slice(14) } },
  'an object key inside errors': {
    error: { code: 'invalid_body', message: 'bad', errors: { [KEY]: 'unexpected', other: [{ [KEY.toUpperCase()]: 1 }] } },
  },
  'as given': { error: { code: 'invalid_header', message: `Authorization: Bearer ${KEY}` } },
};
const names = Object.keys(FORMS);
const connectionOf = (i: number) => `echo-${i}`;

const skeleton = (s: string) =>
  s
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
/** The first place in `text` where some form of the key shows: a literal form, a base64 form, or 12 of its letters and digits in a row. */
function leak(text: string): string | undefined {
  const literal = [
    KEY,
    KEY.toUpperCase(),
    KEY.replace(/-/g, ''),
    KEY.slice(-20),
    b64(`Bearer ${KEY}`).slice(0, 40),
    b64(`:${KEY}`).slice(0, 40),
  ];
  for (const l of literal) if (text.toLowerCase().includes(l.toLowerCase())) return l;
  const sk = skeleton(text);
  const k = skeleton(KEY);
  for (let i = 0; i + 12 <= k.length; i++) if (sk.includes(k.slice(i, i + 12))) return k.slice(i, i + 12);
  return undefined;
}

let p: LocalPipeline;
let printed = '';
let restore: () => void;
let parked: DlqMessage[];

beforeAll(async () => {
  const saved = { out: process.stdout.write, err: process.stderr.write };
  const tee =
    (orig: typeof process.stdout.write) =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      printed += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return (orig as (c: string | Uint8Array, ...r: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    };
  process.stdout.write = tee(saved.out) as typeof process.stdout.write;
  process.stderr.write = tee(saved.err) as typeof process.stderr.write;
  restore = () => {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
  };
  p = await startLocalPipeline({
    nangoSecretKey: KEY,
    connections: names.map((_, i) => ({
      connectionId: connectionOf(i),
      providerConfigKey: 'hubspot',
      metadata: null,
      tags: { organization_id: 'echo' },
    })),
  });
  p.nango!.setFault((r) => {
    if (r.method !== 'PATCH') return undefined;
    const i = names.findIndex((_, j) => connectionOf(j) === r.connectionId);
    return i < 0 ? undefined : { kind: 'status', status: 400, body: FORMS[names[i]!] };
  });
  await p.send([seatsChanged('echo', 5, new Date().toISOString())]);
  await p.drain({ timeoutMs: 60_000 });
  parked = (await p.dlq()).filter((d) => d.queue === 'sync-dlq');
}, 90_000);
afterAll(async () => {
  restore?.();
  await p?.stop();
});

describe('transformed echoes of the key', () => {
  it('every form was answered, and parked: the stand-in did quote the key', () => {
    expect(parked.map((d) => d.envelope?.target?.connectionId).sort()).toEqual(names.map((_, i) => connectionOf(i)).sort());
    expect(parked.every((d) => d.envelope?.error.status === 400)).toBe(true);
    expect(p.nango!.requests.filter((r) => r.method === 'PATCH')).toHaveLength(names.length);
  });

  it.each(names.map((n, i) => [n, i] as const))('%s: not in the parked envelope', (_, i) => {
    const env = parked.find((d) => d.envelope?.target?.connectionId === connectionOf(i));
    expect(env, 'parked').toBeDefined();
    expect(leak(env!.body)).toBeUndefined();
    // Only a status, a code and a short excerpt.
    expect(env!.envelope!.error.errors).toBeUndefined();
    expect(env!.envelope!.error.message.length).toBeLessThanOrEqual(400);
  });

  it('not in anything the handlers printed (logs, metrics)', () => {
    expect(printed.length).toBeGreaterThan(0);
    expect(leak(printed)).toBeUndefined();
  });

  it('not in `npm run dlq -- list` output, for people or as JSON', async () => {
    const args = ['--ingress-dlq-url', p.queues.ingressDlqUrl, '--sync-dlq-url', p.queues.syncDlqUrl];
    for (const argv of [
      ['list', ...args],
      ['list', '--json', ...args],
    ]) {
      const r = await dlq(argv);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('echo-');
      expect(leak(r.stdout + r.stderr)).toBeUndefined();
    }
  });
});
