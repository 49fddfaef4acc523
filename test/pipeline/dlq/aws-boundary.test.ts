/**
 * What fauxqs cannot do, tested at the protocol boundary: a tiny local HTTP server speaks the AWS
 * wire protocols the SDK uses (SQS awsJson1_0, CloudFormation awsQuery), records each request and
 * answers like AWS. `replay --native` (StartMessageMoveTask + ListMessageMoveTasks) and `--stack`
 * (DescribeStacks outputs) run against it unchanged.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalSqs, type LocalSqs } from '../../../local/standins/sqs.ts';
import { envelopeMessage, planEvent, routeEnvelope } from './fixtures.ts';
import { counts, seed } from './queue-tools.ts';
import { dlq } from './run-cli.ts';

interface Recorded {
  target: string;
  body: Record<string, unknown> | string;
}

interface FakeAws {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

const DLQ_ARN = 'arn:aws:sqs:eu-west-1:123456789012:sync-ingress-dlq';
const SOURCE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:sync-ingress';
/** Queues by URL path: the source's redrive policy names the DLQ; `stray` names another DLQ. */
const QUEUES: Record<string, Record<string, string>> = {
  'sync-ingress-dlq': { QueueArn: DLQ_ARN },
  'sync-ingress': { QueueArn: SOURCE_ARN, RedrivePolicy: JSON.stringify({ deadLetterTargetArn: DLQ_ARN, maxReceiveCount: 5 }) },
  stray: {
    QueueArn: 'arn:aws:sqs:eu-west-1:123456789012:stray',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: 'arn:aws:sqs:eu-west-1:123456789012:stray-dlq', maxReceiveCount: 5 }),
  },
};

/** SQS (awsJson1_0) for the native move, and CloudFormation (awsQuery) DescribeStacks. */
async function startFakeAws(o: { stacks: Record<string, Record<string, string>>; sample: { MessageBody: string }[] }): Promise<FakeAws> {
  const requests: Recorded[] = [];
  let listCalls = 0;
  let sampled = false;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target.startsWith('AmazonSQS.')) {
        const op = target.slice('AmazonSQS.'.length);
        const body = JSON.parse(raw) as Record<string, unknown>;
        requests.push({ target: op, body });
        const json = (v: unknown) => {
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify(v));
        };
        switch (op) {
          case 'GetQueueAttributes':
            return json({
              Attributes: {
                ...QUEUES[String(body.QueueUrl).split('/').pop()!],
                ApproximateNumberOfMessages: '3',
                ApproximateNumberOfMessagesNotVisible: '0',
                ApproximateNumberOfMessagesDelayed: '0',
              },
            });
          case 'ReceiveMessage': {
            // Each scan gets the sample, then an empty answer that ends it.
            sampled = !sampled;
            const msgs = !sampled
              ? []
              : o.sample.map((m, i) => ({
                  MessageId: `m${i}`,
                  ReceiptHandle: `rh${i}`,
                  Body: m.MessageBody,
                  MD5OfBody: createHash('md5').update(m.MessageBody).digest('hex'),
                  Attributes: { SentTimestamp: '1795600000000' },
                }));
            return json({ Messages: msgs });
          }
          case 'ChangeMessageVisibilityBatch': {
            const entries = (body.Entries as { Id: string }[]) ?? [];
            return json({ Successful: entries.map((e) => ({ Id: e.Id })), Failed: [] });
          }
          case 'StartMessageMoveTask':
            return json({ TaskHandle: 'task-handle-1' });
          case 'ListMessageMoveTasks': {
            listCalls++;
            const done = listCalls >= 3;
            return json({
              Results: [
                {
                  TaskHandle: 'task-handle-1',
                  Status: done ? 'COMPLETED' : 'RUNNING',
                  SourceArn: DLQ_ARN,
                  ApproximateNumberOfMessagesMoved: done ? 3 : listCalls,
                  ApproximateNumberOfMessagesToMove: 3,
                  StartedTimestamp: 1795600000000,
                },
              ],
            });
          }
          default:
            res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
            return res.end(JSON.stringify({ __type: 'com.amazonaws.sqs#InvalidAction', message: `fake: ${op}` }));
        }
      }
      // CloudFormation: awsQuery, form-encoded in, XML out.
      const form = Object.fromEntries(new URLSearchParams(raw));
      requests.push({ target: `cloudformation.${form.Action}`, body: form });
      const stack = o.stacks[form.StackName ?? ''];
      if (form.Action !== 'DescribeStacks' || !stack) {
        res.writeHead(400, { 'content-type': 'text/xml' });
        return res.end(
          `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code>` +
            `<Message>Stack with id ${form.StackName} does not exist</Message></Error><RequestId>r1</RequestId></ErrorResponse>`,
        );
      }
      const outputs = Object.entries(stack)
        .map(([k, v]) => `<member><OutputKey>${k}</OutputKey><OutputValue>${v}</OutputValue></member>`)
        .join('');
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>` +
          `<StackName>${form.StackName}</StackName><StackId>arn:aws:cloudformation:eu-west-1:123456789012:stack/${form.StackName}/1</StackId>` +
          `<CreationTime>2026-11-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${outputs}</Outputs>` +
          `</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeStacksResponse>`,
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let local: LocalSqs;
beforeAll(async () => {
  local = await startLocalSqs();
  process.env.DLQ_NATIVE_POLL_MS = '10';
});
afterAll(async () => {
  delete process.env.DLQ_NATIVE_POLL_MS;
  await local.close();
});

describe('replay --native', () => {
  it('samples and releases, then starts one move task for the DLQ and follows it to COMPLETED', async () => {
    const envelope = envelopeMessage(routeEnvelope(planEvent('n1', 'a', 'pro')));
    const aws = await startFakeAws({ stacks: {}, sample: [envelope, { MessageBody: JSON.stringify(planEvent('n2', 'a', 'pro')) }] });
    try {
      const dlqUrl = `${aws.url}/123456789012/sync-ingress-dlq`;
      const flags = ['replay', '--native', '--endpoint', aws.url, '--region', 'eu-west-1', '--ingress-dlq-url', dlqUrl, '--wait', '0'];
      const sourceUrl = `${aws.url}/123456789012/sync-ingress`;

      // The destination must be given, and must be the queue whose failures land in this DLQ.
      const none = await dlq(flags);
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(/no URL for the ingress queue that route failures go back to: pass --ingress-url/);
      const stray = await dlq([...flags, '--ingress-url', `${aws.url}/123456789012/stray`]);
      expect(stray.code).toBe(2);
      expect(stray.stderr).toMatch(
        /stray sends its failures to \S+stray-dlq, not to the DLQ being replayed \(arn:aws:sqs:eu-west-1:123456789012:sync-ingress-dlq\)/,
      );
      expect(aws.requests.filter((x) => x.target === 'StartMessageMoveTask')).toEqual([]);
      flags.push('--ingress-url', sourceUrl);

      const r = await dlq([...flags, '--rate', '5']);
      // The route function unwraps its own envelopes, so the move needs no confirmation.
      expect(r.stderr).toMatch(/1 of 2 sampled message\(s\) are failure envelopes/);
      expect(r.stderr).toMatch(/route: RUNNING\s+moved 1\/3/);
      expect(r.stderr).toMatch(/route: COMPLETED\s+moved 3\/3/);
      expect(r.stdout).toMatch(/route DLQ: move task COMPLETED, 3 message\(s\) moved/);
      expect(r.code).toBe(0);

      const ops = aws.requests.map((x) => x.target);
      const start = aws.requests.find((x) => x.target === 'StartMessageMoveTask')!;
      // Named explicitly: SQS does not know the source of messages a function sent to the DLQ.
      expect(start.body).toEqual({ SourceArn: DLQ_ARN, DestinationArn: SOURCE_ARN, MaxNumberOfMessagesPerSecond: 5 });
      // The sample was made visible again before the move: hidden messages would be skipped by it.
      const release = aws.requests.findIndex(
        (x) =>
          x.target === 'ChangeMessageVisibilityBatch' &&
          (x.body as { Entries: { VisibilityTimeout: number }[] }).Entries.every((e) => e.VisibilityTimeout === 0),
      );
      expect(release).toBeGreaterThan(-1);
      expect(release).toBeLessThan(ops.indexOf('StartMessageMoveTask'));
      const lists = aws.requests.filter((x) => x.target === 'ListMessageMoveTasks');
      expect(lists).toHaveLength(3);
      for (const l of lists) expect((l.body as { SourceArn: string }).SourceArn).toBe(DLQ_ARN);
      expect(ops.filter((o) => o === 'StartMessageMoveTask')).toHaveLength(1);
    } finally {
      await aws.close();
    }
  });

  it('takes no filters, and says plainly that fauxqs (the local pipeline) lacks it', async () => {
    const filtered = await dlq(['replay', '--native', '--error-code', 'x', '--ingress-dlq-url', 'http://127.0.0.1:1/0/q']);
    expect(filtered.code).toBe(2);
    expect(filtered.stderr).toMatch(/--native moves every message of a DLQ; it takes no filters/);

    const q = await local.createPipelineQueues({ prefix: 'native-' });
    await seed(local.client(), q.ingressDlqUrl, [{ MessageBody: JSON.stringify(planEvent('x', 'a', 'pro')) }]);
    const r = await dlq([
      'replay',
      '--native',
      '--endpoint',
      local.endpoint,
      '--ingress-dlq-url',
      q.ingressDlqUrl,
      '--ingress-url',
      q.ingressUrl,
      '--wait',
      '0',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not support the operation .*use `replay` without --native/);
    expect(await counts(local.client(), q.ingressDlqUrl)).toEqual({ visible: 1, hidden: 0, total: 1 });
  });
});

describe('--stack', () => {
  it('finds the queues in the stack outputs; an unknown stack is named in the error', async () => {
    const q = await local.createPipelineQueues({ prefix: 'stack-' });
    await seed(local.client(), q.ingressDlqUrl, [envelopeMessage(routeEnvelope(planEvent('s1', 'a', 'pro')))]);
    const aws = await startFakeAws({
      stacks: {
        'sync-prod': {
          IngressQueueUrl: q.ingressUrl,
          IngressDlqUrl: q.ingressDlqUrl,
          SyncQueueUrl: q.syncUrl,
          SyncDlqUrl: q.syncDlqUrl,
          ReplayCommand: 'npm run dlq',
        },
      },
      sample: [],
    });
    process.env.AWS_ENDPOINT_URL_CLOUDFORMATION = aws.url;
    try {
      const r = await dlq(['list', '--json', '--stack', 'sync-prod', '--endpoint', local.endpoint, '--wait', '0']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as { queues: { stage: string; url: string }[]; read: number };
      expect(j.queues.map((x) => [x.stage, x.url])).toEqual([
        ['route', q.ingressDlqUrl],
        ['apply', q.syncDlqUrl],
      ]);
      expect(j.read).toBe(1);
      expect(aws.requests).toContainEqual({
        target: 'cloudformation.DescribeStacks',
        body: expect.objectContaining({ StackName: 'sync-prod' }),
      });

      const missing = await dlq(['list', '--stack', 'nope', '--endpoint', local.endpoint]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toBe('dlq list: stack nope does not exist in this account and region.\n');
    } finally {
      delete process.env.AWS_ENDPOINT_URL_CLOUDFORMATION;
      await aws.close();
    }
  });
});
