/** The pure parts of the DLQ tool: classification, replay plans, filters, summary, arguments, output. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { registerSecret } from '#commons/redact';
import { parseCommandLine } from '../../../cli/dlq/args.ts';
import {
  classify,
  compareItems,
  dlqsFor,
  matches,
  replayDeduplicationId,
  resolveQueueUrls,
  select,
  urlsFromOutputs,
} from '../../../cli/dlq/read.ts';
import { CliError, describeError, scrub } from '../../../cli/errors.ts';
import { parseTime } from '../../../cli/dlq/args.ts';
import { ageBucket, comparePatch, itemJson, renderComparison, renderItem, renderList, safe, summarize } from '../../../cli/dlq/show.ts';
import { pacer } from '../../../cli/dlq/replay.ts';
import {
  applyEnvelope,
  connectionKey,
  held,
  legacyApplyEnvelope,
  legacyPatch,
  orgSubject,
  planEvent,
  routeEnvelope,
  sync,
  syncDeduplicationId,
} from './fixtures.ts';

const acme = { connectionId: 'acme/eu x@y.com', providerConfigKey: 'salesforce' };
const globex = { connectionId: 'globex', providerConfigKey: 'hubspot' };

describe('classify', () => {
  it('reads an apply envelope and plans one sync-FIFO message per original, body unchanged, in its group, with a new dedupe id', () => {
    const m1 = sync(acme, { eventId: 'e1', time: '2026-11-20T12:00:00.000Z' });
    const m2 = sync(acme, { eventId: 'e2', time: '2026-11-20T12:01:00.000Z', subjects: [orgSubject('acme'), 'connection:acme'] });
    const env = applyEnvelope([m1, m2], undefined, undefined, ['plan', 'seats']);
    expect(env).toMatchObject({ v: 2, subjects: [orgSubject('acme'), 'connection:acme'], keys: ['plan', 'seats'] });
    const item = classify(held(JSON.stringify(env), {}, 'dlq-1'), 'apply');
    expect(item).toMatchObject({
      kind: 'envelope',
      stage: 'apply',
      errorCode: 'unknown_connection',
      status: 404,
      connectionId: acme.connectionId,
      providerConfigKey: 'salesforce',
      eventType: 'customer.plan_changed',
      eventIds: ['e1', 'e2'],
    });
    // A sync message names no values: nothing to compare key by key.
    expect(item.patch).toBeUndefined();
    expect(item.keyTimes).toBeUndefined();
    expect(item.failedAt.toISOString()).toBe('2026-11-20T12:05:00.000Z');
    if (!item.replay.ok) throw new Error(item.replay.reason);
    expect(item.replay.messages).toHaveLength(2);
    const [a, b] = item.replay.messages;
    expect(a).toMatchObject({ queue: 'sync', body: JSON.stringify(m1), groupId: connectionKey(acme) });
    expect(b!.body).toBe(JSON.stringify(m2));
    // Not the original's (SQS would drop it within 5 minutes), distinct per original, stable per DLQ message.
    expect(a!.deduplicationId).not.toBe(syncDeduplicationId(acme, 'e1'));
    expect(a!.deduplicationId).not.toBe(b!.deduplicationId);
    expect(a!.deduplicationId).toBe(replayDeduplicationId(env.originals[0]!.messageId, 'dlq-1', 0));
    const again = classify(held(JSON.stringify(env), {}, 'dlq-2'), 'apply');
    expect(again.replay.ok && again.replay.messages[0]!.deduplicationId).not.toBe(a!.deduplicationId);
  });

  it('still reads a version 1 envelope left from before the upgrade: its patch and the event time of each key', () => {
    const m1 = legacyPatch(acme, { plan: 'pro' }, 'e1', '2026-11-20T12:00:00.000Z');
    const m2 = legacyPatch(acme, { seats: 5 }, 'e2', '2026-11-20T12:01:00.000Z');
    const env = legacyApplyEnvelope([m1, m2]);
    const item = classify(held(JSON.stringify(env), {}, 'dlq-1'), 'apply');
    expect(item).toMatchObject({ kind: 'envelope', eventIds: ['e1', 'e2'], patch: { plan: 'pro', seats: 5 } });
    expect(item.keyTimes).toEqual({ plan: '2026-11-20T12:00:00.000Z', seats: '2026-11-20T12:01:00.000Z' });
    expect(item.replay.ok && item.replay.messages.map((m) => [m.body, m.groupId])).toEqual([
      [JSON.stringify(m1), connectionKey(acme)],
      [JSON.stringify(m2), connectionKey(acme)],
    ]);
  });

  it('replays a route envelope to ingress as the original event', () => {
    const ev = planEvent('ev-9', 'acme', 'platinum');
    const item = classify(held(JSON.stringify(routeEnvelope(ev))), 'route');
    expect(item).toMatchObject({
      kind: 'envelope',
      stage: 'route',
      errorCode: 'invalid_event',
      eventType: 'customer.plan_changed',
      eventIds: ['ev-9'],
    });
    // The event, bounded by when it was parked at the latest (here the DLQ copy's sent time): see withArrival.
    const parked = { ...ev, receivedAt: Date.parse('2026-11-20T12:00:00Z') };
    expect(item.replay).toEqual({ ok: true, messages: [{ queue: 'ingress', body: JSON.stringify(parked) }] });
    // An arrival route recorded is kept as it is.
    const recorded = classify(held(JSON.stringify(routeEnvelope({ ...ev, receivedAt: 5 } as typeof ev))), 'route');
    expect(recorded.replay).toEqual({ ok: true, messages: [{ queue: 'ingress', body: JSON.stringify({ ...ev, receivedAt: 5 }) }] });
  });

  it('treats a bare ingress message (SQS redrive) as the event itself, with its first arrival, even when it is not JSON', () => {
    const ev = planEvent('ev-3', 'acme', 'pro');
    // Its arrival (the DLQ copy keeps the SentTimestamp) goes with it, so its replay's version is bounded as the first time.
    const first = { ...ev, receivedAt: Date.parse('2026-11-20T12:00:00Z') };
    const item = classify(held(JSON.stringify(ev)), 'route');
    expect(item).toMatchObject({ kind: 'bare', errorCode: 'sqs_redrive', eventType: 'customer.plan_changed', eventIds: ['ev-3'] });
    expect(item.replay).toEqual({ ok: true, messages: [{ queue: 'ingress', body: JSON.stringify(first) }] });
    // Sent without id and time: route took the message id and the sent time; so does its replay.
    const { id: _id, time: _time, ...bareEvent } = ev;
    const resolved = classify(held(JSON.stringify(bareEvent), {}, 'sqs-id-1'), 'route');
    expect(resolved.eventIds).toEqual(['sqs-id-1']);
    expect(resolved.replay.ok && JSON.parse(resolved.replay.messages[0]!.body)).toEqual({
      ...bareEvent,
      id: 'sqs-id-1',
      time: '2026-11-20T12:00:00.000Z',
      receivedAt: first.receivedAt,
    });
    // An earlier arrival recorded in the body is kept.
    const earlier = classify(held(JSON.stringify({ ...ev, receivedAt: 1 })), 'route');
    expect(earlier.replay.ok && JSON.parse(earlier.replay.messages[0]!.body).receivedAt).toBe(1);
    const undelivered = classify(
      {
        ...held(JSON.stringify(ev)),
        messageAttributes: {
          RULE_ARN: 'arn:aws:events:eu-west-1:1:rule/bus/r',
          TARGET_ARN: 'arn:aws:sqs:eu-west-1:1:ingress',
          ERROR_CODE: 'NO_PERMISSIONS',
          ERROR_MESSAGE: 'not authorized',
        },
      },
      'route',
    );
    expect(undelivered).toMatchObject({
      kind: 'bare',
      errorCode: 'NO_PERMISSIONS',
      errorMessage: expect.stringMatching(/EventBridge could not deliver.*not authorized/),
    });
    expect(undelivered.replay).toEqual({ ok: true, messages: [{ queue: 'ingress', body: JSON.stringify(first) }] });
    const junk = classify(held('not json {'), 'route');
    expect(junk.kind).toBe('bare');
    expect(junk.replay.ok).toBe(true);
  });

  it('replays a bare sync (or version 1 patch) message to its group; anything naming no connection is malformed', () => {
    // A sync message carries no data; its body is moved as it is, in the group SQS kept.
    const m = sync(globex, { eventId: 'e7' });
    const v2 = classify(held(JSON.stringify(m), { MessageGroupId: 'group-from-sqs' }, 'dlq-9'), 'apply');
    expect(v2).toMatchObject({ kind: 'bare', stage: 'apply', connectionId: 'globex', providerConfigKey: 'hubspot' });
    expect(v2.patch).toBeUndefined();
    expect(v2.replay).toEqual({
      ok: true,
      messages: [
        { queue: 'sync', body: JSON.stringify(m), groupId: 'group-from-sqs', deduplicationId: replayDeduplicationId('dlq-9', 'dlq-9', 0) },
      ],
    });
    // No group given: the connection's, as route and the webhook group it.
    const seed = sync(globex, { reason: 'seed' });
    const grouped = classify(held(JSON.stringify(seed)), 'apply');
    expect(grouped.replay.ok && grouped.replay.messages[0]!.groupId).toBe(connectionKey(globex));
    const old = legacyPatch(globex, { status: 'active' }, 'e8');
    const item = classify(held(JSON.stringify(old), { MessageGroupId: connectionKey(globex) }), 'apply');
    expect(item).toMatchObject({ kind: 'bare', stage: 'apply', connectionId: 'globex', patch: { status: 'active' } });
    expect(item.replay.ok && item.replay.messages[0]!.groupId).toBe(connectionKey(globex));
    for (const body of ['{"v":2}', 'garbage', '[]']) {
      const bad = classify(held(body), 'apply');
      expect(bad).toMatchObject({ kind: 'malformed', errorCode: 'malformed_message' });
      expect(bad.replay.ok).toBe(false);
    }
  });

  it('never replays an envelope it cannot trust: unknown version, truncated original, no originals', () => {
    const env = applyEnvelope([sync(acme)]);
    const v9 = classify(held(JSON.stringify({ ...env, v: 9 })), 'apply');
    expect(v9.kind).toBe('malformed');
    const cut = classify(held(JSON.stringify({ ...env, originals: [{ ...env.originals[0]!, truncated: true }] })), 'apply');
    expect(cut.replay).toMatchObject({ ok: false, reason: expect.stringMatching(/truncated/) });
    const none = classify(held(JSON.stringify({ ...env, originals: [] })), 'apply');
    expect(none.replay).toMatchObject({ ok: false, reason: expect.stringMatching(/no original/) });
    const notJson = classify(held(JSON.stringify({ ...env, originals: [{ messageId: 'x', body: 'garbage' }] })), 'apply');
    expect(notJson.replay).toMatchObject({ ok: false, reason: expect.stringMatching(/not a JSON object/) });
  });

  it("replays the originals of an apply envelope as they are, in the stored group or else the connection's", () => {
    const seedMsg = sync(acme, { reason: 'seed' });
    const change = sync(acme, { eventId: 'e3' });
    const env = applyEnvelope([change, seedMsg]);
    const originals = [
      { ...env.originals[0]!, messageId: 'o1', messageGroupId: 'g-acme' },
      { messageId: 'o2', body: env.originals[1]!.body },
    ];
    const item = classify(held(JSON.stringify({ ...env, originals }), {}, 'dlq-3'), 'apply');
    expect(item).toMatchObject({ kind: 'envelope', connectionId: acme.connectionId, patch: undefined });
    expect(item.replay).toEqual({
      ok: true,
      messages: [
        { queue: 'sync', body: JSON.stringify(change), groupId: 'g-acme', deduplicationId: replayDeduplicationId('o1', 'dlq-3', 0) },
        {
          queue: 'sync',
          body: JSON.stringify(seedMsg),
          groupId: connectionKey(acme),
          deduplicationId: replayDeduplicationId('o2', 'dlq-3', 1),
        },
      ],
    });
  });
});

describe('filters', () => {
  const items = [
    classify(held(JSON.stringify(applyEnvelope([sync(acme)], undefined, new Date('2026-11-20T10:00:00Z'))), {}, 'a'), 'apply'),
    classify(
      held(
        JSON.stringify(
          applyEnvelope(
            [sync(globex)],
            { code: 'forbidden', status: 403, message: 'no', retryable: false },
            new Date('2026-11-20T11:00:00Z'),
          ),
        ),
        {},
        'b',
      ),
      'apply',
    ),
    classify(held(JSON.stringify(routeEnvelope(planEvent('r1', 'acme', 'x'))), {}, 'c'), 'route'),
    classify(
      held(JSON.stringify(planEvent('r2', 'globex', 'pro')), { SentTimestamp: String(Date.parse('2026-11-19T00:00:00Z')) }, 'd'),
      'route',
    ),
  ];

  it('selects exactly by each criterion and their conjunction', () => {
    const ids = (f: Parameters<typeof select>[1]) => select(items, f).map((i) => i.messageId);
    expect(ids({})).toEqual(['d', 'a', 'b', 'c']);
    expect(ids({ stages: ['route'] })).toEqual(['d', 'c']);
    expect(ids({ errorCodes: ['unknown_connection'] })).toEqual(['a']);
    expect(ids({ errorCodes: ['forbidden', 'sqs_redrive'] })).toEqual(['d', 'b']);
    expect(ids({ connectionIds: ['acme/eu x@y.com'] })).toEqual(['a']);
    expect(ids({ providerConfigKeys: ['hubspot'] })).toEqual(['b']);
    expect(ids({ eventTypes: ['customer.plan_changed'], stages: ['apply'] })).toEqual(['a', 'b']);
    expect(ids({ since: new Date('2026-11-20T10:30:00Z') })).toEqual(['b', 'c']);
    expect(ids({ until: new Date('2026-11-20T11:00:00Z') })).toEqual(['d', 'a']);
    expect(ids({ max: 2 })).toEqual(['d', 'a']);
    expect(ids({ messageIds: ['c', 'a'] })).toEqual(['a', 'c']);
    expect(ids({ connectionIds: ['acme/eu x@y.com'], providerConfigKeys: ['hubspot'] })).toEqual([]);
    expect(matches(items[3]!, { connectionIds: ['globex'] })).toBe(false);
  });

  it('orders a FIFO group by sequence number when failure times tie', () => {
    const at = new Date('2026-11-20T10:00:00Z');
    const mk = (id: string, seq: string) =>
      classify(held(JSON.stringify(applyEnvelope([sync(acme, { eventId: id })], undefined, at)), { SequenceNumber: seq }, id), 'apply');
    const sorted = [mk('x', '30000000000000000002'), mk('y', '9000000000000000001'), mk('z', '30000000000000000001')].sort(compareItems);
    expect(sorted.map((i) => i.messageId)).toEqual(['y', 'z', 'x']);
  });

  it('parses absolute and relative times, and rejects others', () => {
    const now = new Date('2026-11-20T12:00:00Z');
    expect(parseTime('2h', '--since', now).toISOString()).toBe('2026-11-20T10:00:00.000Z');
    expect(parseTime('7d', '--since', now).toISOString()).toBe('2026-11-13T12:00:00.000Z');
    expect(parseTime('2026-11-01T00:00:00Z', '--since', now).toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(() => parseTime('yesterday', '--since', now)).toThrow(/--since: "yesterday" is not a time/);
    // A day past the month's end is no date (JavaScript would read 2 March).
    expect(() => parseTime('2026-02-30', '--since', now)).toThrow(/--since: "2026-02-30" is not a time/);
    expect(() => parseTime('2026-02-30T10:00:00Z', '--until', now)).toThrow(/is not a time/);
    expect(parseTime('2028-02-29', '--since', now).toISOString()).toBe('2028-02-29T00:00:00.000Z');
  });
});

describe('summary', () => {
  it('counts by stage, kind, error code, event type, connection and age', () => {
    const now = new Date('2026-11-20T12:30:00Z');
    const items = [
      classify(held(JSON.stringify(applyEnvelope([sync(acme)], undefined, new Date('2026-11-20T12:10:00Z')))), 'apply'),
      classify(held(JSON.stringify(applyEnvelope([sync(acme)], undefined, new Date('2026-11-20T02:00:00Z')))), 'apply'),
      classify(held(JSON.stringify(routeEnvelope(planEvent('r', 'a', 'b'))), {}), 'route'),
      classify(held('nope', { SentTimestamp: String(Date.parse('2026-11-01T00:00:00Z')) }), 'apply'),
    ];
    const s = summarize(items, now);
    expect(s.total).toBe(4);
    expect(s.replayable).toBe(3);
    expect(s.byStage).toEqual([
      { key: 'apply', count: 3 },
      { key: 'route', count: 1 },
    ]);
    expect(s.byKind).toEqual([
      { key: 'envelope', count: 3 },
      { key: 'malformed', count: 1 },
    ]);
    expect(s.byErrorCode).toEqual([
      { key: 'unknown_connection', count: 2 },
      { key: 'invalid_event', count: 1 },
      { key: 'malformed_message', count: 1 },
    ]);
    expect(s.byConnection).toEqual([{ key: { providerConfigKey: 'salesforce', connectionId: 'acme/eu x@y.com' }, count: 2 }]);
    expect(s.byEventType[0]).toEqual({ key: 'customer.plan_changed', count: 3 });
    expect(s.byAge.map((b) => b.key)).toEqual(['< 1h', '1h-24h', '> 7d']);
    expect(ageBucket(new Date('2026-11-19T12:29:00Z'), now)).toBe('1d-7d');
  });
});

describe('arguments', () => {
  it('parses filters, keeps commas inside connection ids, and validates numbers, stages, times and URLs', () => {
    const a = parseCommandLine([
      'replay',
      '--stage',
      'apply',
      '--error-code',
      'unknown_connection,forbidden',
      '--connection',
      'a,b',
      '--max',
      '3',
      '--rate',
      '2.5',
      '--dry-run',
    ]);
    expect(a.filter).toMatchObject({ stages: ['apply'], errorCodes: ['unknown_connection', 'forbidden'], connectionIds: ['a,b'], max: 3 });
    expect(a.rate).toBe(2.5);
    expect(a.dryRun).toBe(true);
    const bad: [string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['list', '--stage', 'both'], /--stage must be route or apply/],
      [['replay', '--max', '0'], /--max must be between 1/],
      [['replay', '--max', 'ten'], /--max must be a whole number/],
      [['list', '--since', 'soon'], /--since/],
      [['list', '--since', '1h', '--until', '2h'], /--since must be before --until/],
      [['list', '--ingress-dlq-url', 'sqs://x'], /must be an http\(s\) URL/],
      [['purge', '--dry-run'], /Unknown option '--dry-run'/],
      [['list', 'extra'], /Unexpected argument|positional/i],
    ];
    for (const [argv, re] of bad) {
      let err: unknown;
      try {
        parseCommandLine(argv);
      } catch (e) {
        err = e;
      }
      expect(err, argv.join(' ')).toBeInstanceOf(CliError);
      expect((err as CliError).message).toMatch(re);
      expect((err as CliError).exitCode).toBe(2);
    }
    expect(parseCommandLine(['replay', '--help'])).toMatchObject({ command: 'replay', help: true });
    expect(parseCommandLine([])).toMatchObject({ command: 'help', help: true });
    // The clients are given the region as parsed: an empty one would make the SDK fail instead of reading AWS_REGION.
    expect(parseCommandLine(['list', '--region', '']).queues.region).toBeUndefined();
  });
});

describe('queue URLs', () => {
  const o = (OutputKey: string, OutputValue: string) => ({ OutputKey, OutputValue });
  it('reads the stack outputs, exact or with the CDK construct hash suffix; a version 1 stack too', () => {
    expect(urlsFromOutputs([o('IngressDlqUrl', 'https://q/idlq'), o('SyncDlqUrl', 'https://q/sdlq.fifo'), o('Other', 'x')])).toEqual({
      ingressDlq: 'https://q/idlq',
      syncDlq: 'https://q/sdlq.fifo',
    });
    expect(urlsFromOutputs([o('PipeSyncQueueUrlA1B2C3D4', 'https://q/s.fifo')])).toEqual({ sync: 'https://q/s.fifo' });
    expect(() => urlsFromOutputs([o('ASyncQueueUrlA1B2C3D4', 'x'), o('BSyncQueueUrlFFFFFFFF', 'y')])).toThrow(/several SyncQueueUrl/);
    // Version 1 names, so a DLQ left by an upgraded stack can still be drained; the new name wins.
    expect(urlsFromOutputs([o('PatchesDlqUrl', 'https://q/pdlq.fifo'), o('PatchesQueueUrl', 'https://q/p.fifo')])).toEqual({
      sync: 'https://q/p.fifo',
      syncDlq: 'https://q/pdlq.fifo',
    });
    expect(urlsFromOutputs([o('PatchesDlqUrl', 'https://q/old.fifo'), o('SyncDlqUrl', 'https://q/new.fifo')])).toEqual({
      syncDlq: 'https://q/new.fifo',
    });
  });

  it('prefers flags, then environment (version 2 names, then version 1); and says what is missing', async () => {
    const urls = await resolveQueueUrls(
      { syncDlq: 'http://flag/sdlq.fifo' },
      { SYNC_DLQ_URL: 'http://env/x.fifo', INGRESS_DLQ_URL: 'http://env/idlq', SYNC_QUEUE_URL: 'http://env/s.fifo' },
    );
    expect(urls).toEqual({ syncDlq: 'http://flag/sdlq.fifo', ingressDlq: 'http://env/idlq', sync: 'http://env/s.fifo' });
    const legacy = await resolveQueueUrls({}, { PATCHES_DLQ_URL: 'http://env/p.fifo', PATCHES_QUEUE_URL: 'http://env/pq.fifo' });
    expect(legacy).toEqual({ syncDlq: 'http://env/p.fifo', sync: 'http://env/pq.fifo' });
    expect(dlqsFor({ syncDlq: 'http://x/s.fifo' }, undefined)).toEqual([{ stage: 'apply', url: 'http://x/s.fifo' }]);
    expect(() => dlqsFor({ syncDlq: 'http://x/s.fifo' }, ['route'])).toThrow(/no URL for the route stage's DLQ: pass --ingress-dlq-url/);
    expect(() => dlqsFor({}, undefined)).toThrow(/no DLQ to read: pass --stack NAME, or --ingress-dlq-url \/ --sync-dlq-url/);
  });
});

describe('errors', () => {
  it('maps SDK errors to one clear line and an exit code', () => {
    const q = describeError(Object.assign(new Error('The specified queue does not exist.'), { name: 'QueueDoesNotExist' }), {
      queueUrl: 'http://h/q',
    });
    expect(q.message).toMatch(/queue does not exist: http:\/\/h\/q/);
    expect(q.exitCode).toBe(2);
    expect(
      describeError(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }))
        .message,
    ).toMatch(/no AWS credentials/);
    expect(describeError(new Error('Region is missing')).message).toMatch(/no AWS region/);
    const refused = describeError(Object.assign(new Error('x'), { cause: { code: 'ECONNREFUSED' } }), { endpoint: 'http://127.0.0.1:9' });
    expect(refused.message).toMatch(/cannot reach http:\/\/127.0.0.1:9 \(ECONNREFUSED\)/);
  });
});

describe('output', () => {
  it('neutralises control characters and escape sequences from message contents', () => {
    expect(safe('a\u001b[2Jb\r\nc\u009b')).toBe('a\\u001b[2Jb\\u000d\\u000ac\\u009b');
    expect(safe('x'.repeat(200), 10)).toHaveLength(10);
    const evil = classify(held(JSON.stringify({ source: 's', 'detail-type': 'x\u001b]0;pwned\u0007' })), 'route');
    expect(renderList([evil], new Date())).not.toMatch(/\u001b/);
    expect(renderItem(evil)).not.toMatch(/\u001b/);
  });

  it('inspect names what a version 2 failure was about: its subjects and the keys it tried to send', () => {
    const env = applyEnvelope([sync(acme, { subjects: [orgSubject('acme'), 'connection:acme%2Feu'] })], undefined, undefined, [
      'plan',
      'planChangedAt',
    ]);
    const text = renderItem(classify(held(JSON.stringify(env)), 'apply'));
    expect(text).toMatch(/^subjects\s+tags:organization_id=acme, connection:acme%2Feu$/m);
    expect(text).toMatch(/^keys\s+plan, planChangedAt$/m);
    const route = classify(held(JSON.stringify(routeEnvelope(planEvent('r', 'a', 'b')))), 'route');
    expect(renderItem(route)).not.toMatch(/^(subjects|keys) /m);
  });

  it('scrubs keys before cutting: a registered key, and a credential after Bearer or an authorization header it never saw', () => {
    const known = randomUUID();
    const unknown = randomUUID();
    registerSecret(known);
    const env = applyEnvelope([sync(acme)], {
      status: 401,
      code: 'unknown_account',
      message: `proxy says: Authorization: Bearer ${known}; also ${known}`,
      errors: { echoed: { authorization: `Bearer ${unknown}` }, raw: `"authorization":"${unknown}"` },
      retryable: false,
    });
    const item = classify(held(JSON.stringify(env)), 'apply');
    for (const text of [
      renderItem(item),
      JSON.stringify(itemJson(item, true)),
      safe(`Bearer ${known}`, 12),
      scrub(`x Bearer ${unknown}`),
    ]) {
      expect(text).not.toContain(known);
      expect(text).not.toContain(unknown);
      expect(text).not.toContain(known.slice(0, 8));
    }
    expect(renderItem(item)).toMatch(/Bearer \[REDACTED\]; also \[REDACTED\]/);
    // Ordinary text stays as it is.
    for (const prose of ['Bearer token missing; authorization header absent', 'Basic authentication failed', 'Authorization: required']) {
      expect(scrub(prose)).toBe(prose);
    }
    expect(scrub('authorization=sk_live_4eC39HqLyjWD')).toBe('authorization=[REDACTED]');
    // What is sent stays what was stored.
    expect(item.replay.ok && item.replay.messages[0]!.body).toBe(env.originals[0]!.body);
  });

  it('compares a patch with the current metadata the way a shallow merge applies it', () => {
    const cur = {
      plan: 'pro',
      seats: 5,
      region: 'eu',
      _metadataSyncVersions: { plan: '2026-11-20T13:00:00.000Z', seats: '2026-11-20T11:00:00.000Z' },
    };
    const cmp = comparePatch(
      cur,
      { plan: 'starter', seats: 7, tier: 'a', region: 'eu' },
      { plan: '2026-11-20T12:00:00.000Z', seats: '2026-11-20T12:00:00.000Z' },
    );
    expect(Object.fromEntries(cmp.keys.map((k) => [k.key, k.change]))).toEqual({
      plan: 'stale',
      seats: 'overwrites',
      tier: 'new',
      region: 'unchanged',
    });
    expect(cmp.untouched).toBe(0);
    expect(comparePatch(null, { a: 1 }).keys[0]).toMatchObject({ change: 'new', present: false });
    expect(renderComparison({ a: 1 }, { ok: false, status: 404, code: 'unknown_connection', message: 'x' })).toMatch(
      /does not know this connection/,
    );
  });
});

describe('pacing', () => {
  it('spaces sends evenly at the given rate (simulated clock); 0 means no limit; waiting is abortable', async () => {
    let t = 1000;
    const slept: number[] = [];
    const clock = { now: () => t, sleep: async (ms: number) => void slept.push(ms) };
    const p = pacer(4, clock);
    for (let i = 0; i < 4; i++) await p.take();
    expect(slept).toEqual([250, 500, 750]);
    // After a pause longer than the interval, no burst is owed and no wait is needed.
    t += 5000;
    await p.take();
    await p.take();
    expect(slept).toEqual([250, 500, 750, 250]);

    const none: number[] = [];
    const free = pacer(0, { now: () => 0, sleep: async (ms) => void none.push(ms) });
    for (let i = 0; i < 5; i++) await free.take();
    expect(none).toEqual([]);

    const ctl = new AbortController();
    const slow = pacer(0.001);
    await slow.take();
    const second = slow.take(ctl.signal);
    ctl.abort();
    await expect(second).rejects.toMatchObject({ name: 'AbortError' });
  });
});
