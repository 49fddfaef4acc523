/**
 * An AWS call that gets no answer (a stalled endpoint: the request times out, no HTTP status) is a
 * transient failure: retried, never parked on the first attempt. Real SDK clients with the functions'
 * request-handler settings against a TCP server on 127.0.0.1 that accepts and never answers.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify } from '#commons/failure';

describe('AWS calls that get no answer', () => {
  let server: Server;
  let endpoint: string;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    server = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  const handler = { connectionTimeout: 200, requestTimeout: 300, throwOnRequestTimeout: true };
  const creds = { accessKeyId: 'test', secretAccessKey: 'test' };

  it.each([
    [
      'DynamoDB',
      () =>
        new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: creds, requestHandler: handler, maxAttempts: 1 }).send(
          new GetItemCommand({ TableName: 't', Key: { pk: { S: 'x' } } }),
        ),
    ],
    [
      'SQS',
      () =>
        new SQSClient({ endpoint, region: 'us-east-1', credentials: creds, requestHandler: handler, maxAttempts: 1 }).send(
          new SendMessageCommand({ QueueUrl: `${endpoint}/q`, MessageBody: 'x' }),
        ),
    ],
  ])('%s: a timed-out request is classified transient', async (_name, call) => {
    const e = await call().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeDefined();
    const c = classify(e);
    expect(c.retryable, `${(e as Error).name}: ${(e as Error).message}`).toBe(true);
    expect(c.status).toBeUndefined();
  });
});
