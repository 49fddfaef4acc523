/**
 * The DLQ tool against a real SQS protocol (fauxqs on 127.0.0.1): list/inspect leave every message
 * in place, filters select exactly, replay sends originals to the right queue with the right group
 * and a new dedupe id and deletes only what was sent, purge asks first, bad input gives a clear
 * error and exit code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../../../local/standins/sqs.ts';
import {
  applyEnvelope,
  connectionKey,
  envelopeMessage,
  legacyApplyEnvelope,
  legacyPatch,
  planEvent,
  routeEnvelope,
  sync,
  syncDeduplicationId,
} from './fixtures.ts';
import { counts, drainQueue, queueFlags, seed } from './queue-tools.ts';
import { dlq, spawnCli } from './run-cli.ts';

let local: LocalSqs;
let n = 0;
const fresh = async (): Promise<PipelineQueues> => local.createPipelineQueues({ prefix: `t${++n}-` });
/** One test keeps the default --wait. */
const urlFlags = queueFlags;
beforeAll(async () => {
  local = await startLocalSqs();
  process.env.AWS_ENDPOINT_URL_SQS = local.endpoint;
});
afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_SQS;
  await local.close();
});

const purgeFlags = (q: PipelineQueues) => urlFlags(q).slice(2);

const acme = { connectionId: 'acme/eu x@y.com', providerConfigKey: 'salesforce' };
const globex = { connectionId: 'globex', providerConfigKey: 'hubspot' };
const initech = { connectionId: 'initech', providerConfigKey: 'salesforce' };
const forbidden = { status: 403, code: 'forbidden', message: 'key lacks environment:connections:update', retryable: false };
const at = (min: number) => new Date(Date.UTC(2026, 10, 20, 12, min));

describe('list and inspect', () => {
  it('says how far it has read a large DLQ, on stderr, while stdout stays the JSON alone', async () => {
    const q = await fresh();
    const sqs = local.client();
    await seed(
      sqs,
      q.ingressDlqUrl,
      Array.from({ length: 120 }, (_, i) => envelopeMessage(routeEnvelope(planEvent(`big${i}`, 'acme', 'pro'), undefined, at(i % 60)))),
    );
    const r = await dlq(['list', '--json', '--stage', 'route', ...urlFlags(q)]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ read: 120 });
    expect(r.stderr).toMatch(/reading the route DLQ: \d+ of ~120 message\(s\)/);
    // A small DLQ reads in a moment: no progress line.
    const small = await fresh();
    await seed(sqs, small.ingressDlqUrl, [envelopeMessage(routeEnvelope(planEvent('one', 'acme', 'pro')))]);
    expect((await dlq(['list', '--stage', 'route', ...urlFlags(small)])).stderr).not.toMatch(/reading the/);
  });

  it('shows every message of both DLQs (more than 10), grouped, and leaves them all in place', async () => {
    const q = await fresh();
    const sqs = local.client();
    const routeEnvs = Array.from({ length: 12 }, (_, i) => routeEnvelope(planEvent(`r${i}`, 'acme', 'platinum'), undefined, at(i)));
    await seed(sqs, q.ingressDlqUrl, [
      ...routeEnvs.map(envelopeMessage),
      { MessageBody: JSON.stringify(planEvent('bare-1', 'acme', 'pro')) },
      { MessageBody: JSON.stringify({ ...routeEnvs[0], v: 9 }) },
    ]);
    await seed(sqs, q.syncDlqUrl, [
      ...[1, 2, 3].map((i) => envelopeMessage(applyEnvelope([sync(acme)], undefined, at(20 + i)))),
      envelopeMessage(applyEnvelope([sync(globex)], forbidden, at(30))),
      {
        MessageBody: JSON.stringify(sync(initech)),
        MessageGroupId: connectionKey(initech),
        MessageDeduplicationId: 'bare-p',
      },
      { MessageBody: 'garbage', MessageGroupId: 'x', MessageDeduplicationId: 'garbage' },
    ]);

    // The default long-poll scan, as against AWS.
    const r = await dlq(['list', '--json', '--ingress-dlq-url', q.ingressDlqUrl, '--sync-dlq-url', q.syncDlqUrl]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as {
      read: number;
      matched: number;
      summary: { byErrorCode: { key: string; count: number }[]; byStage: unknown; byConnection: unknown };
      items: { messageId: string; kind: string }[];
    };
    expect(j.read).toBe(20);
    expect(new Set(j.items.map((i) => i.messageId)).size).toBe(20);
    expect(Object.fromEntries(j.summary.byErrorCode.map((c) => [c.key, c.count]))).toEqual({
      invalid_event: 12,
      unknown_connection: 3,
      forbidden: 1,
      sqs_redrive: 2,
      malformed_message: 2,
    });
    expect(j.summary.byStage).toEqual([
      { key: 'route', count: 14 },
      { key: 'apply', count: 6 },
    ]);
    expect(j.summary.byConnection).toContainEqual({ key: acme, count: 3 });

    // Nothing consumed, nothing left hidden.
    expect(await counts(sqs, q.ingressDlqUrl)).toEqual({ visible: 14, hidden: 0, total: 14 });
    expect(await counts(sqs, q.syncDlqUrl)).toEqual({ visible: 6, hidden: 0, total: 6 });

    const text = await dlq(['list', ...urlFlags(q), '--stage', 'apply', '--error-code', 'unknown_connection']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/3 of 6 message\(s\) match the filters/);
    expect(text.stdout).toMatch(/unknown_connection\s+3/);
    expect(text.stdout).toContain('acme/eu x@y.com');

    const malformed = j.items.find((i) => i.kind === 'malformed')!;
    const insp = await dlq(['inspect', ...urlFlags(q), '--id', malformed.messageId]);
    expect(insp.code).toBe(0);
    expect(insp.stdout).toMatch(/replay\s+not possible: malformed/);
    const inspJson = JSON.parse((await dlq(['inspect', '--json', ...urlFlags(q), '--error-code', 'forbidden'])).stdout) as {
      items: { envelope: { error: { code: string } }; replayMessages: unknown[] }[];
    };
    expect(inspJson.items).toHaveLength(1);
    expect(inspJson.items[0]!.envelope.error.code).toBe('forbidden');
    expect(inspJson.items[0]!.replayMessages).toHaveLength(1);
    expect((await counts(sqs, q.syncDlqUrl)).visible).toBe(6);
  });
});

describe('replay', () => {
  it('replays exactly what the filters choose, keeps a connection in order, and deletes only what it sent', async () => {
    const q = await fresh();
    const sqs = local.client();
    const acmeMsgs = [1, 2, 3].map((i) => sync(acme, { time: at(i).toISOString() }));
    const acmeEnvs = acmeMsgs.map((m, i) => applyEnvelope([m], undefined, at(10 + i)));
    await seed(sqs, q.syncDlqUrl, [...acmeEnvs.map(envelopeMessage), envelopeMessage(applyEnvelope([sync(globex)], forbidden, at(5)))]);
    const plan = planEvent('ev-plan', 'acme', 'platinum');
    const seats = { ...planEvent('ev-seats', 'acme', 'x'), 'detail-type': 'customer.seats_changed' };
    const bare = planEvent('ev-bare', 'globex', 'pro');
    await seed(sqs, q.ingressDlqUrl, [
      envelopeMessage(routeEnvelope(plan, undefined, at(1))),
      envelopeMessage(routeEnvelope(seats, undefined, at(2))),
      { MessageBody: JSON.stringify(bare) },
    ]);

    const r1 = await dlq(['replay', '--json', '--rate', '0', '--error-code', 'unknown_connection', ...urlFlags(q)]);
    expect(r1.code).toBe(0);
    expect(JSON.parse(r1.stdout)).toMatchObject({
      selected: 3,
      replayed: 3,
      messagesSent: 3,
      failed: [],
      skipped: [],
      sentNotDeleted: [],
      interrupted: false,
    });
    const sent = await drainQueue(sqs, q.syncUrl);
    expect(sent.map((s) => s.body)).toEqual(acmeMsgs.map((m) => JSON.stringify(m)));
    expect(new Set(sent.map((s) => s.groupId))).toEqual(new Set([connectionKey(acme)]));
    for (const [i, s] of sent.entries()) expect(s.deduplicationId).not.toBe(syncDeduplicationId(acme, acmeMsgs[i]!.events[0]!.id));
    expect(await counts(sqs, q.syncDlqUrl)).toMatchObject({ total: 1 });
    expect(await counts(sqs, q.ingressDlqUrl)).toMatchObject({ visible: 3, total: 3 });
    expect((await counts(sqs, q.ingressUrl)).total).toBe(0);

    const r2 = await dlq(['replay', '--rate', '0', '--stage', 'route', '--event-type', 'customer.seats_changed', ...urlFlags(q)]);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toMatch(/Replayed 1 of 1 chosen message/);
    // The event as parked, bounded by when it was parked (`receivedAt`): its replay cannot outrank a change made meanwhile.
    expect((await drainQueue(sqs, q.ingressUrl)).map((s) => JSON.parse(s.body))).toEqual([{ ...seats, receivedAt: expect.any(Number) }]);

    const r3 = await dlq(['replay', '--rate', '0', '--stage', 'route', '--max', '1', ...urlFlags(q)]);
    expect(r3.code).toBe(0);
    // The event as parked, bounded by when it was parked (`receivedAt`): its replay cannot outrank a change made meanwhile.
    expect((await drainQueue(sqs, q.ingressUrl)).map((s) => JSON.parse(s.body))).toEqual([{ ...plan, receivedAt: expect.any(Number) }]);
    const r4 = await dlq(['replay', '--rate', '0', '--stage', 'route', '--error-code', 'sqs_redrive', ...urlFlags(q)]);
    expect(r4.code).toBe(0);
    // The bare event as it came, with its first arrival (the DLQ copy's sent time) so route bounds its version as the first time.
    expect((await drainQueue(sqs, q.ingressUrl)).map((s) => JSON.parse(s.body))).toEqual([{ ...bare, receivedAt: expect.any(Number) }]);
    expect((await counts(sqs, q.ingressDlqUrl)).total).toBe(0);
    // The forbidden one was never chosen: still there.
    expect((await counts(sqs, q.syncDlqUrl)).total).toBe(1);
  });

  it('replays a version 1 apply envelope left from before the upgrade: its patch messages, unchanged, in their group', async () => {
    const q = await fresh();
    const sqs = local.client();
    const old = [
      legacyPatch(acme, { plan: 'pro' }, 'v1-a', at(1).toISOString()),
      legacyPatch(acme, { seats: 4 }, 'v1-b', at(2).toISOString()),
    ];
    await seed(sqs, q.syncDlqUrl, [envelopeMessage(legacyApplyEnvelope(old, undefined, at(3)))]);
    const r = await dlq(['replay', '--json', '--rate', '0', '--stage', 'apply', ...urlFlags(q)]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ selected: 1, replayed: 1, messagesSent: 2 });
    const sent = await drainQueue(sqs, q.syncUrl);
    expect(sent.map((m) => m.body)).toEqual(old.map((m) => JSON.stringify(m)));
    expect(new Set(sent.map((m) => m.groupId))).toEqual(new Set([connectionKey(acme)]));
    expect((await counts(sqs, q.syncDlqUrl)).total).toBe(0);
  });

  it('reaches messages queued behind others of the same FIFO group (more than one receive batch)', async () => {
    const q = await fresh();
    const sqs = local.client();
    const msgs = Array.from({ length: 23 }, (_, i) => sync(initech, { time: at(i).toISOString() }));
    await seed(
      sqs,
      q.syncDlqUrl,
      msgs.map((m, i) => envelopeMessage(applyEnvelope([m], undefined, at(i)))),
    );
    const before = await dlq(['list', '--json', '--stage', 'apply', ...urlFlags(q)]);
    const listed = JSON.parse(before.stdout) as { read: number; queues: { notReached: number }[] };
    // SQS hands a group out in order: only the first batch is readable while it is held.
    expect(listed.read + listed.queues[0]!.notReached).toBe(23);
    const r = await dlq(['replay', '--json', '--rate', '0', '--stage', 'apply', ...urlFlags(q)]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ selected: 23, replayed: 23 });
    expect((await drainQueue(sqs, q.syncUrl)).map((s) => s.body)).toEqual(msgs.map((m) => JSON.stringify(m)));
    expect((await counts(sqs, q.syncDlqUrl)).total).toBe(0);
  });

  it('skips what cannot be replayed, keeps it, and says why', async () => {
    const q = await fresh();
    const sqs = local.client();
    const ok = sync(globex);
    await seed(sqs, q.syncDlqUrl, [
      { MessageBody: '{"not":"a patch"}', MessageGroupId: 'm', MessageDeduplicationId: 'm' },
      envelopeMessage(applyEnvelope([ok])),
    ]);
    const r = await dlq(['replay', '--rate', '0', ...urlFlags(q)]);
    // Something was left behind: not a success.
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Replayed 1 of 2 chosen message\(s\): 1 message\(s\) sent to source queues, 0 failed, 1 skipped/);
    expect(r.stdout).toMatch(/skipped\s+\S+: malformed: not a sync message \(it names no connection\)/);
    expect((await drainQueue(sqs, q.syncUrl)).map((s) => s.body)).toEqual([JSON.stringify(ok)]);
    expect((await counts(sqs, q.syncDlqUrl)).total).toBe(1);
  });

  it('refuses to start when a chosen message has nowhere to go, before sending anything', async () => {
    const q = await fresh();
    await seed(local.client(), q.syncDlqUrl, [envelopeMessage(applyEnvelope([sync(globex)]))]);
    const r = await dlq(['replay', '--sync-dlq-url', q.syncDlqUrl]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no URL for the sync queue that apply failures go back to: pass --sync-url/);
    expect(await counts(local.client(), q.syncDlqUrl)).toEqual({ visible: 1, hidden: 0, total: 1 });
  });

  it('refuses a destination whose redrive policy does not name the DLQ (or of the other FIFO type), before sending; --force overrides loudly', async () => {
    const q = await fresh();
    const other = await fresh();
    const sqs = local.client();
    await seed(sqs, q.syncDlqUrl, [envelopeMessage(applyEnvelope([sync(globex)]))]);
    await seed(sqs, q.ingressDlqUrl, [envelopeMessage(routeEnvelope(planEvent('w1', 'a', 'pro')))]);
    const flags = (sync: string, ingress: string) => [
      '--wait',
      '0',
      '--rate',
      '0',
      '--sync-dlq-url',
      q.syncDlqUrl,
      '--ingress-dlq-url',
      q.ingressDlqUrl,
      '--sync-url',
      sync,
      '--ingress-url',
      ingress,
    ];
    const untouched = async () => {
      expect(await counts(sqs, q.syncDlqUrl)).toEqual({ visible: 1, hidden: 0, total: 1 });
      expect(await counts(sqs, q.ingressDlqUrl)).toEqual({ visible: 1, hidden: 0, total: 1 });
      for (const u of [q.syncUrl, q.ingressUrl, other.syncUrl, other.ingressUrl]) expect((await counts(sqs, u)).total).toBe(0);
    };

    // Another pipeline's queue: its failures go to another DLQ.
    const wrong = await dlq(['replay', ...flags(other.syncUrl, q.ingressUrl)]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/refusing to replay, nothing was sent/);
    expect(wrong.stderr).toMatch(/apply: \S+t\d+-sync\.fifo sends its failures to \S+t\d+-sync-dlq\.fifo, not to the DLQ being replayed/);
    await untouched();

    // Swapped: the standard ingress queue for the FIFO sync queue, and the DLQ itself (no redrive policy).
    const swapped = await dlq(['replay', ...flags(q.ingressUrl, q.ingressDlqUrl)]);
    expect(swapped.code).toBe(2);
    expect(swapped.stderr).toMatch(/the DLQ is FIFO but \S+ingress is standard/);
    expect(swapped.stderr).toMatch(/route: \S+ingress-dlq has no redrive policy/);
    await untouched();

    // The dry run says so too, without refusing.
    const dry = await dlq(['replay', '--dry-run', '--no-nango', ...flags(other.syncUrl, q.ingressUrl)]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/A real replay would refuse \(without --force\):\napply: /);

    const forced = await dlq(['replay', '--force', '--stage', 'apply', ...flags(other.syncUrl, q.ingressUrl)]);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/WARNING: --force given: replaying although\napply: /);
    expect((await counts(sqs, other.syncUrl)).total).toBe(1);
    expect((await counts(sqs, q.syncDlqUrl)).total).toBe(0);
  });

  it('stops at Ctrl-C after the message in flight and puts the rest back', async () => {
    const q = await fresh();
    const sqs = local.client();
    await seed(
      sqs,
      q.ingressDlqUrl,
      Array.from({ length: 6 }, (_, i) => envelopeMessage(routeEnvelope(planEvent(`c${i}`, 'a', 'pro'), undefined, at(i)))),
    );
    const ctl = new AbortController();
    // Two per second: abort once the first has been sent.
    const running = dlq(['replay', '--rate', '2', '--stage', 'route', ...urlFlags(q)], { signal: ctl.signal });
    while ((await counts(sqs, q.ingressUrl)).total < 1) await new Promise((r) => setTimeout(r, 20));
    ctl.abort();
    const r = await running;
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/Interrupted\. Replayed \d of 6/);
    const sent = (await counts(sqs, q.ingressUrl)).total;
    const left = await counts(sqs, q.ingressDlqUrl);
    expect(left.hidden).toBe(0);
    expect(sent + left.total).toBe(6);
    expect(sent).toBeLessThan(6);
  });
});

describe('purge', () => {
  it('refuses without a terminal, asks on one, and purges with --yes', async () => {
    const q = await fresh();
    const sqs = local.client();
    await seed(sqs, q.ingressDlqUrl, [{ MessageBody: '{}' }, { MessageBody: '{}' }]);
    const noTty = await dlq(['purge', '--stage', 'route', ...purgeFlags(q)]);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toMatch(/refusing to purge without a terminal.*--yes/);
    const declined = await dlq(['purge', '--stage', 'route', ...purgeFlags(q)], { stdinTTY: true, stdin: 'no\n' });
    expect(declined.code).toBe(1);
    expect(declined.stderr).toMatch(/~2 message\(s\)[\s\S]*Not purged/);
    expect((await counts(sqs, q.ingressDlqUrl)).total).toBe(2);
    const confirmed = await dlq(['purge', '--stage', 'route', ...purgeFlags(q)], { stdinTTY: true, stdin: 'purge\n' });
    expect(confirmed.code).toBe(0);
    expect((await counts(sqs, q.ingressDlqUrl)).total).toBe(0);
    await seed(sqs, q.syncDlqUrl, [{ MessageBody: '{}', MessageGroupId: 'g', MessageDeduplicationId: 'd' }]);
    const yes = await dlq(['purge', '--yes', '--stage', 'apply', ...purgeFlags(q)]);
    expect(yes.code).toBe(0);
    expect(yes.stdout).toMatch(/Purged the apply DLQ/);
    expect((await counts(sqs, q.syncDlqUrl)).total).toBe(0);
  });

  it('a terminal whose input ends unanswered (Ctrl-D) purges nothing and exits at once', async () => {
    const q = await fresh();
    const sqs = local.client();
    await seed(sqs, q.ingressDlqUrl, [{ MessageBody: '{}' }]);
    const ended = await dlq(['purge', '--stage', 'route', ...purgeFlags(q)], { stdinTTY: true, stdin: '' });
    expect(ended.code).toBe(1);
    expect(ended.stderr).toMatch(/Not purged/);
    expect((await counts(sqs, q.ingressDlqUrl)).total).toBe(1);
  });
});

describe('bad input', () => {
  it('an unknown queue, an unreachable endpoint, a missing region: one clear line and an exit code', async () => {
    const q = await fresh();
    const unknown = q.ingressDlqUrl.replace(/ingress-dlq$/, 'no-such-queue');
    const r = await dlq(['list', '--ingress-dlq-url', unknown]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `dlq list: queue does not exist: ${unknown}. Check the queue URL (or --stack), the region, and AWS_ENDPOINT_URL_SQS for a local pipeline.\n`,
    );
    const down = await dlq(['list', '--endpoint', 'http://127.0.0.1:9', '--ingress-dlq-url', 'http://127.0.0.1:9/000000000000/x']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^dlq list: cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/);
    expect(down.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('without AWS credentials, as a separate process: a clear message, exit 2', async () => {
    const q = await fresh();
    const home = mkdtempSync(join(tmpdir(), 'dlq-nocreds-'));
    const child = spawnCli(['list', '--ingress-dlq-url', q.ingressDlqUrl], {
      PATH: process.env.PATH,
      HOME: home,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_SQS: local.endpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(home, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
    });
    expect(await child.exited).toBe(2);
    expect(child.stderr()).toMatch(/^dlq list: no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID/m);
    expect(child.stderr()).not.toMatch(/\n\s+at /);
  });

  it('every command answers --help; the bin shim runs from a clean checkout', async () => {
    for (const cmd of ['list', 'inspect', 'replay', 'purge']) {
      const r = await dlq([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: dlq ${cmd} `));
    }
    const q = await fresh();
    await seed(local.client(), q.ingressDlqUrl, [envelopeMessage(routeEnvelope(planEvent('shim', 'a', 'b')))]);
    const child = spawnCli(
      ['list', '--ingress-dlq-url', q.ingressDlqUrl],
      { ...process.env, AWS_ENDPOINT_URL_SQS: local.endpoint },
      'shim',
    );
    expect(await child.exited).toBe(0);
    expect(child.stdout()).toMatch(/invalid_event\s+1/);
    expect(child.stderr()).toBe('');
  });
});
