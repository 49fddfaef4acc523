/**
 * A replay interrupted (SIGINT) and killed (SIGKILL) midway, then run again: every message is
 * delivered at least once and none is lost. The CLI runs as its own process, as an operator runs it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../../../local/standins/sqs.ts';
import { applyEnvelope, connectionKey, envelopeMessage, planEvent, routeEnvelope, sync } from './fixtures.ts';
import { counts, drainQueue, queueFlags, seed } from './queue-tools.ts';
import { spawnCli } from './run-cli.ts';

let local: LocalSqs;
beforeAll(async () => {
  local = await startLocalSqs();
});
afterAll(async () => {
  await local.close();
});

const at = (min: number) => new Date(Date.UTC(2026, 10, 20, 12, min));

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

it('loses nothing when a replay is interrupted and killed midway, and a re-run finishes it', async () => {
  const sqs = local.client();
  const q: PipelineQueues = await local.createPipelineQueues({ prefix: 'kill-' });
  const events = Array.from({ length: 20 }, (_, i) => planEvent(`ev-${i}`, `c${i}`, 'pro', at(i).toISOString()));
  const conns = [0, 1, 2, 3].map((c) => ({ connectionId: `conn ${c}/x`, providerConfigKey: 'salesforce' }));
  const syncs = conns.flatMap((t, c) => [0, 1, 2, 3, 4].map((i) => sync(t, { eventId: `p-${c}-${i}`, time: at(i * 4 + c).toISOString() })));
  await seed(
    sqs,
    q.ingressDlqUrl,
    events.map((e, i) => envelopeMessage(routeEnvelope(e, undefined, at(i)))),
  );
  await seed(
    sqs,
    q.syncDlqUrl,
    syncs.map((p, i) => envelopeMessage(applyEnvelope([p], undefined, at(i)))),
  );

  const env = { ...process.env, AWS_ENDPOINT_URL_SQS: local.endpoint };
  const flags = [...queueFlags(q), '--visibility', '5'];
  const delivered = async () => (await counts(sqs, q.ingressUrl)).total + (await counts(sqs, q.syncUrl)).total;
  const inDlq = async () => (await counts(sqs, q.ingressDlqUrl)).total + (await counts(sqs, q.syncDlqUrl)).total;

  // 1. Ctrl-C: the message in flight finishes, everything else is made visible again at once.
  const first = spawnCli(['replay', '--rate', '8', ...flags], env);
  await until('the first sends', async () => (await delivered()) >= 4);
  first.proc.kill('SIGINT');
  expect(await first.exited).toBe(130);
  expect(first.stderr()).toMatch(/interrupted: finishing the message in flight/);
  expect(first.stdout()).toMatch(/Interrupted\. Replayed \d+ of 40/);
  const afterInt = { delivered: await delivered(), dlq: await inDlq() };
  expect((await counts(sqs, q.ingressDlqUrl)).hidden + (await counts(sqs, q.syncDlqUrl)).hidden).toBe(0);
  // Sent and deleted together: nothing duplicated, nothing missing.
  expect(afterInt.delivered + afterInt.dlq).toBe(40);
  expect(afterInt.delivered).toBeLessThan(40);

  // 2. SIGKILL: no clean-up at all. Held messages come back when their visibility runs out.
  const second = spawnCli(['replay', '--rate', '8', ...flags], env);
  await until('more sends', async () => (await delivered()) >= afterInt.delivered + 4);
  second.proc.kill('SIGKILL');
  expect(await second.exited).toBe('SIGKILL');
  const afterKill = { delivered: await delivered(), dlq: await inDlq() };
  expect(afterKill.delivered + afterKill.dlq).toBeGreaterThanOrEqual(40);
  expect(afterKill.dlq).toBeGreaterThan(0);
  // Its last renewal hid them for --visibility (5 s) at most; fauxqs updates its counts on the next receive.
  await sleep(6_000);

  // 3. Run again to the end.
  const third = spawnCli(['replay', '--rate', '0', ...flags], env);
  expect(await third.exited).toBe(0);
  expect(await inDlq()).toBe(0);

  const ingress = await drainQueue(sqs, q.ingressUrl);
  const fifo = await drainQueue(sqs, q.syncUrl);
  // Every event at least once (a kill between send and delete may repeat one on the standard queue).
  // As parked, plus when they were parked (`receivedAt`, the bound of their version on replay).
  const asParked = (body: string) => {
    const { receivedAt, ...e } = JSON.parse(body) as { receivedAt?: number };
    expect(receivedAt).toBeGreaterThan(0);
    return JSON.stringify(e);
  };
  expect(new Set(ingress.map((m) => asParked(m.body)))).toEqual(new Set(events.map((e) => JSON.stringify(e))));
  // Syncs: exactly once and in order per connection, because a re-sent DLQ message reuses its dedupe id.
  expect(fifo).toHaveLength(20);
  for (const [c, t] of conns.entries()) {
    const mine = fifo
      .filter((m) => m.groupId === connectionKey(t))
      .map((m) => (JSON.parse(m.body) as { events: { id: string }[] }).events[0]!.id);
    expect(mine).toEqual([0, 1, 2, 3, 4].map((i) => `p-${c}-${i}`));
  }
  console.log(
    `kill test: after SIGINT ${afterInt.delivered} sent + ${afterInt.dlq} in DLQ; after SIGKILL ${afterKill.delivered} sent + ${afterKill.dlq} in DLQ; ` +
      `final ${ingress.length} ingress deliveries for 20 events (${ingress.length - 20} repeated), ${fifo.length} syncs for 20`,
  );
});
