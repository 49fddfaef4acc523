/**
 * The Secrets Manager stand-in, driven by the real AWS SDK v3 client (explicit endpoint and
 * AWS_ENDPOINT_URL_SECRETS_MANAGER) and by Powertools' getSecret / SecretsProvider.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { getSecret, SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { afterEach, describe, expect, it } from 'vitest';
import { startSecretsManagerStandin, type SecretsManagerStandin } from '../../../local/standins/secrets-manager.ts';

let sm: SecretsManagerStandin | undefined;
const clients: SecretsManagerClient[] = [];
const envBefore = process.env['AWS_ENDPOINT_URL_SECRETS_MANAGER'];

async function start(secrets: Record<string, string> = { 'nango/key': 'value-1', 'nango/json': '{"secretKey":"k","host":"http://h"}' }) {
  sm = await startSecretsManagerStandin({ secrets });
  return sm;
}
const client = (endpoint?: string, maxAttempts?: number) => {
  const c = new SecretsManagerClient({ ...(endpoint ? { endpoint } : {}), ...(maxAttempts ? { maxAttempts } : {}) });
  clients.push(c);
  return c;
};
const get = (c: SecretsManagerClient, id: string) => c.send(new GetSecretValueCommand({ SecretId: id }));

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  if (envBefore === undefined) delete process.env['AWS_ENDPOINT_URL_SECRETS_MANAGER'];
  else process.env['AWS_ENDPOINT_URL_SECRETS_MANAGER'] = envBefore;
  await sm?.close();
  sm = undefined;
});

describe('Secrets Manager stand-in with the AWS SDK client', () => {
  it('GetSecretValue by name, full ARN and partial ARN', async () => {
    const s = await start();
    const c = client(s.url);
    const byName = await get(c, 'nango/key');
    expect(byName.SecretString).toBe('value-1');
    expect(byName.Name).toBe('nango/key');
    expect(byName.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:\d{12}:secret:nango\/key-[A-Za-z]{6}$/);
    expect(byName.VersionStages).toEqual(['AWSCURRENT']);
    expect(byName.CreatedDate).toBeInstanceOf(Date);
    expect((await get(c, byName.ARN!)).SecretString).toBe('value-1');
    expect((await get(c, byName.ARN!.slice(0, -7))).SecretString).toBe('value-1');
    expect(s.calls()).toBe(3);
  });

  it('unknown ids: ResourceNotFoundException, status 400', async () => {
    const s = await start();
    const err = await get(client(s.url), 'nope').catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } });
  });

  it('honours AWS_ENDPOINT_URL_SECRETS_MANAGER with no endpoint in code', async () => {
    const s = await start();
    process.env['AWS_ENDPOINT_URL_SECRETS_MANAGER'] = s.url;
    expect((await get(client(), 'nango/key')).SecretString).toBe('value-1');
    expect(s.calls()).toBe(1);
  });

  it('setSecret rotates the value and the version', async () => {
    const s = await start();
    const c = client(s.url);
    const before = await get(c, 'nango/key');
    s.setSecret('nango/key', 'value-2');
    const after = await get(c, 'nango/key');
    expect(after.SecretString).toBe('value-2');
    expect(after.VersionId).not.toBe(before.VersionId);
    expect(after.ARN).toBe(before.ARN);
    s.setSecret('brand/new', 'n');
    expect((await get(c, 'brand/new')).SecretString).toBe('n');
  });

  it('throttling: the SDK retries ThrottlingException; past its attempts the error surfaces', async () => {
    const s = await start();
    s.throttleNext(1);
    expect((await get(client(s.url, 3), 'nango/key')).SecretString).toBe('value-1');
    expect(s.calls()).toBe(2);

    s.throttleNext(5);
    const err = await get(client(s.url, 2), 'nango/key').catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
    expect(s.calls()).toBe(4);
  });
});

describe('Secrets Manager stand-in with Powertools parameters', () => {
  it('SecretsProvider with an explicit endpoint: get, json transform, cache and forceFetch', async () => {
    const s = await start();
    const awsSdkV3Client = client(s.url);
    const provider = new SecretsProvider({ awsSdkV3Client });
    expect(await provider.get('nango/key')).toBe('value-1');
    expect(await provider.get('nango/json', { transform: 'json' })).toEqual({ secretKey: 'k', host: 'http://h' });
    s.setSecret('nango/key', 'value-2');
    expect(await provider.get('nango/key')).toBe('value-1'); // cached (default max age 5 s)
    expect(await provider.get('nango/key', { forceFetch: true })).toBe('value-2');
    expect(s.calls()).toBe(3);
    // clientConfig works too (the provider builds its own client).
    expect(await new SecretsProvider({ clientConfig: { endpoint: s.url } }).get('nango/key')).toBe('value-2');
    expect(s.calls()).toBe(4);
  });

  it('getSecret through AWS_ENDPOINT_URL_SECRETS_MANAGER; unknown ids reject', async () => {
    const s = await start();
    process.env['AWS_ENDPOINT_URL_SECRETS_MANAGER'] = s.url;
    expect(await getSecret('nango/key', { forceFetch: true })).toBe('value-1');
    await expect(getSecret('nope', { forceFetch: true })).rejects.toThrow();
    expect(s.calls()).toBe(2);
  });
});
