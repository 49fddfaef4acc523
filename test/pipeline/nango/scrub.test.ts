/**
 * The key never leaves the adapter through an error: a server (or proxy, or WAF) that quotes the
 * Authorization header in a JSON error or an HTML page, or an exception that quotes it, yields a
 * Failure whose message, `errors` and toRecord() carry neither the key nor `Bearer <key>`. And
 * errors stay small: thousands of validation issues become the first few and a count.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorFromException, Failure } from '#commons/failure';
import { MAX_EXCERPT } from '#commons/nango/errors';
import { HttpNangoClient } from '#commons/nango/http-client';
import { knownSecrets } from '#commons/redact';
import { staticKeyProvider } from '#commons/secrets';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';

const KEY = randomUUID();
let nango: NangoStandin;
let client: HttpNangoClient;
const target = { connectionId: 'acme', providerConfigKey: 'hubspot' };
const soon = () => ({ deadline: Date.now() + 5000 });

beforeAll(async () => {
  nango = await startNangoStandin({ secretKey: KEY, connections: [{ ...target, tags: { organization_id: 'acme' } }] });
  client = new HttpNangoClient({ host: nango.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 2000 });
});
afterEach(() => nango.setFault(undefined));
afterAll(async () => {
  await client.close();
  await nango.close();
});

/** Everything an error can show: its message, errors, failure, stack and own fields. */
function everything(e: Failure): string {
  return JSON.stringify([e.message, e.errors, e.toRecord(), e.stack, { ...e }, String(e)]);
}

const calls = {
  patch: () => client.patchMetadata(target, { plan: 'pro' }, soon()),
  list: () => client.listConnections({ tags: { organization_id: 'acme' } }, { limit: 10, page: 0 }, soon()),
};

describe('key scrubbing', () => {
  it.each([
    ['json', 'patch'],
    ['json', 'list'],
    ['html', 'patch'],
    ['html', 'list'],
  ] as const)('an Authorization header echoed in a %s answer to %s never reaches the error', async (format, which) => {
    nango.setFault(() => ({ kind: 'echoAuth', format, status: 400 }));
    const e = await calls[which]().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Failure);
    const err = e as Failure;
    expect(err).toMatchObject({ status: 400, retryable: false });
    // The answer did carry the key: the scrub is what removed it.
    expect(everything(err)).toContain('[REDACTED]');
    expect(everything(err)).not.toContain(KEY);
    expect(everything(err)).not.toContain(encodeURIComponent(`Bearer ${KEY}`));
    // Only a status, a code and a short excerpt are kept: nothing else of the body.
    expect(err.errors).toBeUndefined();
  });

  it('registers the key it obtained, so code far from the client can scrub it', async () => {
    await calls.patch();
    expect(knownSecrets()).toContain(KEY);
  });

  it('scrubs an exception that quotes the key it was given', () => {
    const key = randomUUID();
    const e = errorFromException(Object.assign(new Error(`bad header authorization: Bearer ${key}`), { code: 'UND_ERR_INVALID_ARG' }), [
      key,
    ]);
    expect(e.message).not.toContain(key);
    expect(e.message).toContain('Bearer [REDACTED]');
  });

  it('keeps the key out of a second 401 built after the key was fetched again', async () => {
    nango.setFault(() => ({ kind: 'echoAuth', format: 'json', status: 401 }));
    const e = (await calls.patch().catch((x: unknown) => x)) as Failure;
    expect(e).toMatchObject({ status: 401, retryable: false });
    expect(everything(e)).not.toContain(KEY);
  });
});

describe('bounded errors: a status, a code and a short excerpt, nothing else of the body', () => {
  it('500 validation issues: the code, and an excerpt of the first ones under 300 characters; no `errors` kept', async () => {
    const issues = Array.from({ length: 500 }, (_, i) => ({ code: 'invalid_type', message: `issue ${i}`, path: ['metadata', `k${i}`] }));
    nango.setFault(() => ({ kind: 'status', status: 400, body: { error: { code: 'invalid_body', errors: issues } } }));
    const e = (await calls.patch().catch((x: unknown) => x)) as Failure;
    expect(e).toMatchObject({ code: 'invalid_body', status: 400 });
    expect(e.errors).toBeUndefined();
    expect(e.message).toContain('issue 0');
    expect(e.message.length).toBeLessThanOrEqual(MAX_EXCERPT);
    expect(JSON.stringify(e.toRecord()).length).toBeLessThan(MAX_EXCERPT + 200);
  });

  it('a code that is not a plain word gives way to the status', async () => {
    nango.setFault(() => ({ kind: 'status', status: 400, body: { error: { code: 'a b <c>', message: 'm' } } }));
    expect(((await calls.patch().catch((x: unknown) => x)) as Failure).code).toBe('http_400');
  });

  it('cuts a long message and an HTML page to a 300-character excerpt, markup dropped', async () => {
    nango.setFault(() => ({ kind: 'status', status: 400, body: { error: { code: 'x', message: 'm '.repeat(10_000) } } }));
    expect(((await calls.patch().catch((x: unknown) => x)) as Failure).message.length).toBeLessThanOrEqual(MAX_EXCERPT);
    nango.setFault(() => ({ kind: 'html', status: 502, body: `<html><body>${'p '.repeat(10_000)}</body></html>` }));
    const html = ((await calls.patch().catch((x: unknown) => x)) as Failure).message;
    expect(html.length).toBeLessThan(400);
    expect(html).not.toContain('<');
  });
});
