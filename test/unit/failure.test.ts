/**
 * The one failure policy, for errors as the AWS SDK v3 really throws them: real clients against a
 * loopback server that answers like DynamoDB, SQS or Secrets Manager under throttling, validation
 * failures and outages (the SDK's own retries off, so its error reaches the policy).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify, handBackSeconds, settle } from '#commons/failure';
import { Failure } from '#commons/failure';
import { AttemptsExhausted } from '#commons/retry';

let server: http.Server;
let endpoint: string;
let answer: { status: number; type: string; message: string } = { status: 400, type: 'ValidationException', message: 'bad' };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-requestid': 'r',
        'x-amzn-errortype': answer.type,
      });
      res.end(JSON.stringify({ __type: answer.type, message: answer.message }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const opts = () => ({ endpoint, region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
async function thrown(status: number, type: string, call: 'dynamodb' | 'sqs' | 'secrets'): Promise<unknown> {
  answer = { status, type, message: `${type} happened` };
  try {
    if (call === 'dynamodb') {
      const c = new DynamoDBClient(opts());
      await c.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'x' } } })).finally(() => c.destroy());
    } else if (call === 'sqs') {
      const c = new SQSClient({ ...opts(), useQueueUrlAsEndpoint: false });
      await c.send(new SendMessageCommand({ QueueUrl: `${endpoint}/000000000000/q`, MessageBody: 'x' })).finally(() => c.destroy());
    } else {
      const c = new SecretsManagerClient(opts());
      await c.send(new GetSecretValueCommand({ SecretId: 's' })).finally(() => c.destroy());
    }
  } catch (e) {
    return e;
  }
  throw new Error('the call did not fail');
}

describe('classify: AWS SDK errors', () => {
  it.each([
    ['dynamodb', 400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', true],
    ['dynamodb', 400, 'com.amazonaws.dynamodb.v20120810#ThrottlingException', true],
    ['dynamodb', 400, 'com.amazonaws.dynamodb.v20120810#ValidationException', false],
    ['dynamodb', 400, 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException', false],
    ['dynamodb', 500, 'com.amazonaws.dynamodb.v20120810#InternalServerError', true],
    ['sqs', 400, 'com.amazonaws.sqs#RequestThrottled', true],
    ['sqs', 400, 'com.amazonaws.sqs#InvalidParameterValue', false],
    ['sqs', 503, 'com.amazonaws.sqs#ServiceUnavailable', true],
    ['secrets', 400, 'ThrottlingException', true],
    ['secrets', 400, 'ResourceNotFoundException', false],
    ['secrets', 500, 'InternalServiceError', true],
  ] as const)('%s %i %s -> retryable %s', async (call, status, type, retryable) => {
    const e = await thrown(status, type, call);
    const c = classify(e);
    expect(c).toBeInstanceOf(Failure);
    expect(c.retryable).toBe(retryable);
    expect(c.status).toBe(status);
    expect(c.code).toBe(type.split('#').pop());
    // Wrapped after in-process retries, the cause decides.
    expect(classify(new AttemptsExhausted(e, 3)).retryable).toBe(retryable);
  });

  it('network failures are transient; Nango errors keep their own classification', () => {
    expect(classify(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toMatchObject({
      code: 'network_error',
      retryable: true,
    });
    expect(classify(new DOMException('timed out', 'TimeoutError'))).toMatchObject({ code: 'timeout', retryable: true });
    const n = new Failure({ source: 'nango', kind: 'refused', code: 'unknown_connection', message: 'gone', status: 404 });
    expect(classify(n)).toBe(n);
  });
});

describe('settle', () => {
  const rec = (id: string, receives: number) =>
    ({ messageId: id, attributes: { ApproximateReceiveCount: String(receives) } }) as unknown as SQSRecord;
  const items = [rec('a', 1), rec('b', 5), rec('c', 4)];

  it('permanent: everything parked at once', () => {
    expect(settle(items, new Failure({ source: 'nango', kind: 'refused', code: 'x', message: 'x', status: 400 }), (r) => r, 5)).toEqual({
      park: items,
      handBack: [],
      visibilitySeconds: undefined,
    });
  });

  it('transient: parked on the last allowed receive, the rest handed back with Retry-After as visibility', () => {
    const s = settle(
      items,
      new Failure({ source: 'nango', kind: 'throttled', code: 'too_many_request', message: 'x', status: 429, retryAfterMs: 1_200 }),
      (r) => r,
      5,
    );
    expect(s.park.map((r) => r.messageId)).toEqual(['b']);
    expect(s.handBack.map((r) => r.messageId)).toEqual(['a', 'c']);
    expect(s.visibilitySeconds).toBe(2);
    expect(
      handBackSeconds(new Failure({ source: 'nango', kind: 'throttled', code: 'x', message: 'x', status: 429, retryAfterMs: 0 })),
    ).toBe(1);
    expect(
      handBackSeconds(new Failure({ source: 'nango', kind: 'throttled', code: 'x', message: 'x', status: 429, retryAfterMs: 10 ** 9 })),
    ).toBe(43_200);
    expect(handBackSeconds(new Failure({ source: 'nango', kind: 'unavailable', code: 'x', message: 'x', status: 503 }))).toBeUndefined();
  });
});
