/**
 * An event parked before it was mapped (here: dated too far ahead) reached us when it was first
 * received, not when it is replayed. Replayed after a genuine change to the same key, it must not
 * outrank that change: its version is bounded by its first arrival, as for an event parked after
 * it was mapped.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../../local/pipeline.ts';
import { orgSubject } from './fixtures.ts';
import { dlq, pipelineQueueFlags } from './run-cli.ts';

let p: LocalPipeline;
beforeAll(async () => {
  // One second of clock skew allowed, so an event dated 3 s ahead is refused now and valid 3 s later.
  p = await startLocalPipeline({ env: { MAX_FUTURE_SKEW_SECONDS: '1' } });
});
afterAll(async () => {
  await p?.stop();
});

const flags = () => pipelineQueueFlags(p.queues);
const status = async () => (await p.state.readDesired(orgSubject('acme'))).find((d) => d.key === 'status')?.value;
const statusEvent = (id: string, status: string, changedAt: string) => ({
  id,
  source: 'app.accounts',
  'detail-type': 'customer.status_changed',
  time: new Date().toISOString(),
  detail: { organizationId: 'acme', status, changedAt },
});

it('an event parked as dated ahead, replayed once its date has passed, does not overwrite a change made after it arrived', async () => {
  const ahead = statusEvent('status-ahead', 'churned', new Date(Date.now() + 3_000).toISOString());
  await p.send([ahead]);
  await p.drain();
  const [parked] = await p.dlq();
  expect(parked!.envelope?.error.code).toBe('event_time_in_future');

  await new Promise((res) => setTimeout(res, 200));
  await p.send([statusEvent('status-later', 'active', new Date().toISOString())]);
  await p.drain();
  expect(await status()).toBe('active');

  // Past the first event's date: valid now. Replayed, it is bounded by when it first reached us.
  await new Promise((res) => setTimeout(res, 3_500));
  const r = await dlq(['replay', '--json', '--rate', '0', '--stage', 'route', ...flags()]);
  expect(JSON.parse(r.stdout)).toMatchObject({ selected: 1, replayed: 1 });
  await p.drain();
  expect(await p.dlq()).toEqual([]);
  expect(await status()).toBe('active');
}, 60_000);

it('moved back whole (as `replay --native` or a redrive moves it), the same event is bounded by when it was parked', async () => {
  const ahead = statusEvent('status-ahead-native', 'churned', new Date(Date.now() + 3_000).toISOString());
  await p.send([ahead]);
  await p.drain();
  await new Promise((res) => setTimeout(res, 200));
  await p.send([statusEvent('status-later-native', 'active', new Date().toISOString())]);
  await p.drain();
  expect(await status()).toBe('active');

  await new Promise((res) => setTimeout(res, 3_500));
  // The envelope itself goes back to the ingress queue, as SQS's move task sends it.
  const got = await p.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: p.queues.ingressDlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  expect(got.Messages).toHaveLength(1);
  const [m] = got.Messages!;
  expect(m!.Body).toContain('event_time_in_future');
  await p.sqs.send(new SendMessageCommand({ QueueUrl: p.queues.ingressUrl, MessageBody: m!.Body! }));
  await p.sqs.send(new DeleteMessageCommand({ QueueUrl: p.queues.ingressDlqUrl, ReceiptHandle: m!.ReceiptHandle! }));
  await p.drain();
  expect(await p.dlq()).toEqual([]);
  expect(await status()).toBe('active');
}, 60_000);
