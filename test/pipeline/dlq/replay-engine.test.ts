/**
 * The replay loop's failure paths, which a healthy fauxqs never produces: an SQS that refuses
 * some sends and some deletes (a local awsJson1_0 server the real SDK client talks to). A refused
 * send keeps the message in the DLQ and holds back the later messages of its connection; a refused
 * delete is reported, never hidden.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { classify, Holder } from '../../../cli/dlq/read.ts';
import { pacer, replayItems } from '../../../cli/dlq/replay.ts';
import { applyEnvelope, held, planEvent, routeEnvelope, sync } from './fixtures.ts';

const calls: { op: string; body: Record<string, unknown> }[] = [];
let server: http.Server;
let endpoint: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const op = String(req.headers['x-amz-target']).replace('AmazonSQS.', '');
      const body = JSON.parse(raw) as Record<string, unknown>;
      calls.push({ op, body });
      const reply = (status: number, v: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(v));
      };
      if (op === 'SendMessage') {
        const text = String(body.MessageBody);
        if (text.includes('REFUSE'))
          return reply(400, { __type: 'com.amazonaws.sqs#InvalidMessageContents', message: 'refused by the test' });
        return reply(200, { MessageId: `sent-${calls.length}`, MD5OfMessageBody: createHash('md5').update(text).digest('hex') });
      }
      if (op === 'DeleteMessage') {
        if (String(body.ReceiptHandle).startsWith('gone'))
          return reply(400, { __type: 'com.amazonaws.sqs#ReceiptHandleIsInvalid', message: 'receipt handle expired' });
        return reply(200, {});
      }
      return reply(400, { __type: 'com.amazonaws.sqs#InvalidAction', message: op });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

it('a refused send keeps the message and holds back its connection; a refused delete is reported', async () => {
  const sqs = new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
  try {
    const acme = { connectionId: 'acme', providerConfigKey: 'salesforce' };
    const globex = { connectionId: 'globex', providerConfigKey: 'salesforce' };
    const at = (m: number) => new Date(Date.UTC(2026, 10, 20, 12, m));
    const item = (
      env: ReturnType<typeof applyEnvelope> | ReturnType<typeof routeEnvelope>,
      id: string,
      stage: 'apply' | 'route',
      receipt = `rh-${id}`,
    ) => classify({ ...held(JSON.stringify(env), {}, id), receiptHandle: receipt, queueUrl: `${endpoint}/0/dlq` }, stage);
    const items = [
      item(applyEnvelope([sync(acme, { eventId: 'REFUSE' })], undefined, at(1)), 'a1', 'apply'),
      item(applyEnvelope([sync(acme)], undefined, at(2)), 'a2', 'apply'),
      item(applyEnvelope([sync(globex)], undefined, at(3)), 'g1', 'apply'),
      item(routeEnvelope(planEvent('r1', 'x', 'pro'), undefined, at(4)), 'r1', 'route', 'gone-r1'),
      item(applyEnvelope([sync(acme)], undefined, at(5)), 'a3', 'apply'),
    ];
    const out = await replayItems(items, {
      sqs,
      holder: new Holder(sqs, 30),
      targets: { ingress: `${endpoint}/0/ingress`, sync: `${endpoint}/0/sync.fifo` },
      pacer: pacer(0),
      signal: new AbortController().signal,
    });
    expect(out.replayed.map((i) => i.messageId)).toEqual(['g1']);
    expect(out.failed.map((f) => [f.item.messageId, f.error])).toEqual([
      ['a1', expect.stringMatching(/InvalidMessageContents.*refused by the test/)],
    ]);
    expect(out.skipped.map((s) => s.item.messageId)).toEqual(['a2', 'a3']);
    expect(out.skipped[0]!.reason).toMatch(/earlier message of this connection/);
    expect(out.sentNotDeleted.map((s) => [s.item.messageId, s.error])).toEqual([['r1', expect.stringMatching(/receipt handle expired/)]]);
    expect(out.messagesSent).toBe(2);
    // Deletes only after a send succeeded: never for a1, a2, a3.
    const deleted = calls.filter((c) => c.op === 'DeleteMessage').map((c) => c.body.ReceiptHandle);
    expect(deleted).toEqual(['rh-g1', 'gone-r1']);
    const sends = calls.filter((c) => c.op === 'SendMessage');
    expect(sends.map((s) => String(s.body.QueueUrl).split('/').pop())).toEqual(['sync.fifo', 'sync.fifo', 'ingress']);
    expect(sends[1]!.body).toMatchObject({ MessageGroupId: expect.any(String), MessageDeduplicationId: expect.any(String) });
    expect(sends[2]!.body).not.toHaveProperty('MessageGroupId');
  } finally {
    sqs.destroy();
  }
});
