/**
 * A bare message SQS's redrive moved to the ingress DLQ (route crashed on every receive, after it
 * wrote its keys) carries no envelope, so nothing recorded when it first reached us. Replayed as it
 * is, an event without `id` and `time` would be re-stamped with the replay's arrival, and a version
 * dated ahead (a producer's fast clock, inside the skew window) would then outrank a genuine change
 * made while it sat in the DLQ. The tool fills in what route resolved the first time.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startLocalPipeline, type LocalPipeline } from '../../../local/pipeline.ts';
import { orgSubject } from './fixtures.ts';
import { dlq, pipelineQueueFlags } from './run-cli.ts';

let p: LocalPipeline;
let crashOn: string | undefined;

beforeAll(async () => {
  p = await startLocalPipeline({
    maxReceiveCount: 2,
    route: { functionTimeoutMs: 3000, crashAfter: (info) => crashOn !== undefined && info.records.some((r) => r.body.includes(crashOn!)) },
  });
});
afterAll(async () => {
  await p?.stop();
});

const flags = () => pipelineQueueFlags(p.queues);
const status = async () => (await p.state.readDesired(orgSubject('acme'))).find((d) => d.key === 'status')?.value;

it('a redriven event without id and time, dated ahead, replayed after a newer change does not overwrite it', async () => {
  crashOn = 'fast-clock';
  // No id, no time (sent straight to the ingress queue); changedAt 2 minutes ahead, inside the 5-minute skew.
  const ahead = new Date(Date.now() + 120_000).toISOString();
  const old = { organizationId: 'acme', status: 'suspended', reason: 'fast-clock', changedAt: ahead };
  const [sent] = await p.send([{ source: 'app.accounts', 'detail-type': 'customer.status_changed', detail: old }]);
  const deadline = Date.now() + 30_000;
  while (!(await p.dlq()).some((d) => d.queue === 'ingress-dlq')) {
    if (Date.now() > deadline) throw new Error('the crashing event never reached the ingress DLQ');
    await new Promise((res) => setTimeout(res, 100));
  }
  crashOn = undefined;
  await p.drain();
  const [bare] = await p.dlq();
  expect(bare!.envelope).toBeUndefined();
  // Route wrote it before crashing, bounded by its arrival.
  expect(await status()).toBe('suspended');

  // A genuine change, later than the first event's arrival, earlier than its claimed changedAt.
  await new Promise((res) => setTimeout(res, 50));
  const now = new Date().toISOString();
  await p.send([
    {
      id: 'status-newer',
      source: 'app.accounts',
      'detail-type': 'customer.status_changed',
      time: now,
      detail: { organizationId: 'acme', status: 'active', changedAt: now },
    },
  ]);
  await p.drain();
  expect(await status()).toBe('active');

  // What replay sends: the event as route resolved it the first time (SQS's redrive keeps the message id and sent time).
  const plan = JSON.parse((await dlq(['replay', '--dry-run', '--json', '--no-nango', '--stage', 'route', ...flags()])).stdout) as {
    items: { replayMessages: { body: string }[] }[];
  };
  const resent = JSON.parse(plan.items[0]!.replayMessages[0]!.body) as { id: string; time: string; receivedAt: number; detail: unknown };
  expect(resent).toMatchObject({ id: sent!.messageId, detail: old });
  expect(resent.receivedAt).toBeLessThan(Date.parse(now));
  expect(Date.parse(resent.time)).toBe(resent.receivedAt);

  const r = await dlq(['replay', '--json', '--rate', '0', '--stage', 'route', '--error-code', 'sqs_redrive', ...flags()]);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ selected: 1, replayed: 1 });
  await p.drain();
  expect(await p.dlq()).toEqual([]);
  // The old event keeps its first arrival: it loses to the newer change.
  expect(await status()).toBe('active');
}, 90_000);
