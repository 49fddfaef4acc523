/**
 * `npm run send`: files of EventBridge envelopes put on a pipeline through the real EventBridge
 * client and the PutEvents stand-in (which forwards what the rule matches to a fauxqs ingress
 * queue), or straight onto the queue with SendMessageBatch. Batches of 10, failed entries retried,
 * bad input refused with its file and place before anything is sent.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EventBridgeStandin, startEventBridgeStandin, throttleFirst } from '../../../local/standins/eventbridge.ts';
import { type LocalSqs, type PipelineQueues, startLocalSqs } from '../../../local/standins/sqs.ts';
import { counts, drainQueue } from '../dlq/queue-tools.ts';
import { send, spawnSend } from './run-send.ts';

const BUS = 'sync-bus';
const PLAN = { source: 'app.billing', detailType: 'customer.plan_changed' };
let local: LocalSqs;
let q: PipelineQueues;
let eb: EventBridgeStandin;
const dir = mkdtempSync(join(tmpdir(), 'send-test-'));

const event = (i: number, extra: Record<string, unknown> = {}) => ({
  version: '0',
  id: `file-id-${i}`,
  source: PLAN.source,
  'detail-type': PLAN.detailType,
  time: `2026-11-20T12:00:${String(i % 60).padStart(2, '0')}.250Z`,
  detail: { customerId: `c${i}`, plan: 'pro' },
  ...extra,
});
const write = (name: string, value: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return p;
};

beforeAll(async () => {
  local = await startLocalSqs();
  q = await local.createPipelineQueues({ prefix: 'send-' });
  eb = await startEventBridgeStandin({ busName: BUS, rule: { matches: [PLAN], queueUrl: q.ingressUrl, sqs: local.client() } });
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
});
afterEach(async () => {
  eb.setFault(undefined);
  eb.requests.length = 0;
  eb.accepted.length = 0;
  await drainQueue(local.client(), q.ingressUrl);
});
afterAll(async () => {
  await eb.close();
  await local.close();
  rmSync(dir, { recursive: true, force: true });
});

const bus = () => ['--bus', BUS, '--endpoint-url', eb.url];

describe('to the bus', () => {
  it('puts every event of files, arrays and directories in batches of 10; the rule forwards what it matches as EventBridge envelopes', async () => {
    const many = write(
      'many.json',
      Array.from({ length: 17 }, (_, i) => event(i)),
    );
    const one = write('one.json', event(100));
    mkdirSync(join(dir, 'more'));
    writeFileSync(join(dir, 'more', 'a.json'), JSON.stringify([event(200), event(201)]));
    writeFileSync(join(dir, 'more', 'b.json'), JSON.stringify({ ...event(202), 'detail-type': 'customer.unrouted' }));
    writeFileSync(join(dir, 'more', 'notes.txt'), 'not an event');

    const r = await send([many, one, join(dir, 'more'), ...bus()]);
    expect(r.stderr).toMatch(/send: \d+\/21/);
    expect(r.stdout).toBe(`Sent 21 of 21 events to bus ${BUS}.\n`);
    expect(r.code).toBe(0);
    expect(eb.requests.map((x) => [x.target, x.entries])).toEqual([
      ['AWSEvents.PutEvents', 10],
      ['AWSEvents.PutEvents', 10],
      ['AWSEvents.PutEvents', 1],
    ]);
    // Every event accepted; the one the rule does not match is not forwarded.
    expect(eb.accepted).toHaveLength(21);
    expect(eb.accepted.every((a) => a.busName === BUS)).toBe(true);
    const delivered = (await drainQueue(local.client(), q.ingressUrl)).map((m) => JSON.parse(m.body) as Record<string, unknown>);
    expect(delivered).toHaveLength(20);
    const first = delivered.find((d) => (d.detail as { customerId: string }).customerId === 'c3')!;
    expect(first).toMatchObject({ version: '0', source: PLAN.source, 'detail-type': PLAN.detailType, detail: event(3).detail });
    // The time is kept (to the second, as EventBridge keeps it); the id is EventBridge's own.
    expect(first.time).toBe('2026-11-20T12:00:03Z');
    expect(first.id).not.toBe('file-id-3');
    expect(new Set(delivered.map((d) => (d.detail as { customerId: string }).customerId))).toEqual(
      new Set([...Array.from({ length: 17 }, (_, i) => `c${i}`), 'c100', 'c200', 'c201']),
    );
  });

  it('retries throttled entries with backoff until they are accepted; a permanent failure is reported with its code, exit 1', async () => {
    const file = write('retry.json', [...Array.from({ length: 12 }, (_, i) => event(i)), event(99, { detail: { customerId: 'bad' } })]);
    const throttle = throttleFirst(4);
    eb.setFault(
      (e) => throttle(e) ?? (e.detail?.includes('"bad"') ? { code: 'AccessDeniedException', message: 'not allowed' } : undefined),
    );
    const r = await send([file, ...bus()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^Sent 12 of 13 events to bus sync-bus \(4 entries retried\)\.\nFailed 1: AccessDeniedException x1\n {2}\S+retry\.json\[12\]: AccessDeniedException not allowed\n$/,
    );
    // 10 + the 4 throttled again + 3: only the failed entries are sent again.
    expect(eb.requests.map((x) => x.entries)).toEqual([10, 4, 3]);
    expect((await drainQueue(local.client(), q.ingressUrl)).length).toBe(12);
  });

  it('gives up on an entry throttled on every attempt, after a few, and says so', async () => {
    const file = write('always.json', [event(1), event(2, { detail: { customerId: 'hot' } })]);
    eb.setFault((e) => (e.detail?.includes('"hot"') ? { code: 'ThrottlingException', message: 'Rate exceeded' } : undefined));
    const r = await send([file, ...bus()], { attempts: 3, baseMs: 1, maxMs: 5 });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Failed 1: ThrottlingException x1\n {2}\S+always\.json\[1\]: ThrottlingException Rate exceeded/);
    expect(eb.requests.map((x) => x.entries)).toEqual([2, 1, 1]);
  });

  it('as its own process: progress on stderr, the summary on stdout, exit 1 when an event failed', async () => {
    const file = write('child.json', [event(1), event(2, { detail: { customerId: 'bad' } })]);
    eb.setFault((e) => (e.detail?.includes('"bad"') ? { code: 'AccessDeniedException', message: 'not allowed' } : undefined));
    const r = await spawnSend([file, ...bus()], { ...process.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^send: 2\/2 {2}sent 1 {2}failed 1 {2}retried 0\n$/);
    expect(r.stdout).toMatch(/^Sent 1 of 2 events to bus sync-bus\.\nFailed 1: AccessDeniedException x1\n/);
  });

  it('stops at a request that fails as a whole (endpoint down): the error once, how many were not sent, exit 1', async () => {
    const file = write(
      'down.json',
      Array.from({ length: 25 }, (_, i) => event(i)),
    );
    const r = await send([file, '--bus', BUS, '--endpoint-url', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`Sent 0 of 25 events to bus ${BUS}.\n`);
    expect(r.stderr).toMatch(/send: stopped, 25 events not sent: cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/);
  });

  it('--dry-run reads and checks, says where the events would go, and sends nothing', async () => {
    const r = await send([write('dry.json', [event(1), event(2)]), ...bus(), '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Dry run: 2 events from 1 path would go to bus sync-bus in 1 request\. Nothing sent\./);
    expect(r.stdout).toMatch(/dry\.json\[1\]: app\.billing \/ customer\.plan_changed at 2026-11-20T12:00:02\.250Z/);
    expect(eb.requests).toEqual([]);
  });

  it('`npm run send FILE --dry-run` (npm keeps the flag, npm_config_dry_run) sends nothing and exits 2', async () => {
    const r = await spawnSend([write('npm-dry.json', [event(1)]), ...bus()], { ...process.env, npm_config_dry_run: 'true' });
    expect(r.stderr).toMatch(/^send: npm took --dry-run for itself.*npm run send -- --dry-run/);
    expect(r.code).toBe(2);
    expect(eb.requests).toEqual([]);
  });
});

describe('to the queue (--queue-url)', () => {
  it('sends the envelopes as they are (ids kept) with SendMessageBatch, 10 at a time', async () => {
    const file = write(
      'queue.json',
      Array.from({ length: 11 }, (_, i) => event(i)),
    );
    const r = await send([file, '--queue-url', q.ingressUrl, '--endpoint-url', local.endpoint]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Sent 11 of 11 events to queue ${q.ingressUrl}.\n`);
    const got = await drainQueue(local.client(), q.ingressUrl);
    expect(
      got.map((m) => JSON.parse(m.body) as unknown).sort((a, b) => ((a as { id: string }).id < (b as { id: string }).id ? -1 : 1)),
    ).toEqual(Array.from({ length: 11 }, (_, i) => event(i)).sort((a, b) => (a.id < b.id ? -1 : 1)));
    expect(eb.requests).toEqual([]);
  });

  it('sends an event whose strings hold U+FFFE or U+FFFF (SQS refuses them raw) as the same JSON', async () => {
    const odd = event(1, { id: 'id-\uFFFF', detail: { customerId: 'c\uFFFE1', plan: 'pro' } });
    const r = await send([write('odd.json', [odd]), '--queue-url', q.ingressUrl, '--endpoint-url', local.endpoint]);
    expect(r.code).toBe(0);
    const got = await drainQueue(local.client(), q.ingressUrl);
    expect(got.map((m) => JSON.parse(m.body) as unknown)).toEqual([odd]);
  });

  it('refuses an event over 256 KiB by file and position, before sending anything', async () => {
    const big = write('big.json', [event(1), event(2, { detail: { blob: 'x'.repeat(270_000) } })]);
    for (const dest of [['--queue-url', q.ingressUrl, '--endpoint-url', local.endpoint], bus()]) {
      const r = await send([big, ...dest]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /^send: 1 event too large, nothing sent:\n {2}\S+big\.json\[1\]: \d+ bytes, over the 256 KiB \(262144 bytes\) an event may have/,
      );
    }
    expect((await counts(local.client(), q.ingressUrl)).total).toBe(0);
    expect(eb.requests).toEqual([]);
  });
});

describe('--stack', () => {
  it('takes the bus (EventBusName) or, with --queue, the ingress queue (IngressQueueUrl) from the stack outputs', async () => {
    const cfn = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        const form = Object.fromEntries(new URLSearchParams(raw));
        if (form.StackName !== 'sync-prod') {
          res.writeHead(400, { 'content-type': 'text/xml' });
          return res.end(
            `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${form.StackName} does not exist</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
          );
        }
        const outputs = { SyncEventBusName0A1B2C3D: BUS, IngressQueueUrl: q.ingressUrl };
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>sync-prod</StackName>` +
            `<CreationTime>2026-11-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${Object.entries(outputs)
              .map(([k, v]) => `<member><OutputKey>${k}</OutputKey><OutputValue>${v}</OutputValue></member>`)
              .join('')}</Outputs></member></Stacks></DescribeStacksResult></DescribeStacksResponse>`,
        );
      });
    });
    await new Promise<void>((resolve) => cfn.listen(0, '127.0.0.1', resolve));
    process.env.AWS_ENDPOINT_URL_CLOUDFORMATION = `http://127.0.0.1:${(cfn.address() as AddressInfo).port}`;
    try {
      const file = write('stack.json', [event(1)]);
      const viaBus = await send([file, '--stack', 'sync-prod', '--endpoint-url', eb.url]);
      expect(viaBus.stdout).toBe(`Sent 1 of 1 event to bus ${BUS}.\n`);
      expect(viaBus.code).toBe(0);
      const viaQueue = await send([file, '--stack', 'sync-prod', '--queue', '--endpoint-url', local.endpoint]);
      expect(viaQueue.stdout).toBe(`Sent 1 of 1 event to queue ${q.ingressUrl}.\n`);
      expect((await drainQueue(local.client(), q.ingressUrl)).length).toBe(2);
      const missing = await send([file, '--stack', 'nope']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toBe('send: stack nope does not exist in this account and region.\n');
    } finally {
      delete process.env.AWS_ENDPOINT_URL_CLOUDFORMATION;
      await new Promise<void>((resolve) => cfn.close(() => resolve()));
    }
  });
});

describe('bad input: one clear line, exit 2, nothing sent', () => {
  it('unknown flag, no file, missing file, invalid JSON with line and column, incomplete events, no destination', async () => {
    const good = write('good.json', event(1));
    const cases: [string[], RegExp][] = [
      [[good, '--bogus', ...bus()], /^send: Unknown option '--bogus'.* \(see --help\)\n$/],
      [[...bus()], /^send: no event files given \(see --help\)\n$/],
      [[join(dir, 'nope.json'), ...bus()], /^send: \S+nope\.json: no such file or directory/],
      [
        [write('broken.json', '{\n  "source": "a",\n  "detail": }\n'), ...bus()],
        /^send: \S+broken\.json: invalid JSON at line 3, column 13: /,
      ],
      [[write('cut.json', '[{"source": "a"'), ...bus()], /^send: \S+cut\.json: invalid JSON at line 1, column 16: /],
      [
        [write('nosrc.json', [event(1), { 'detail-type': 'x', detail: {} }]), ...bus()],
        /^send: \S+nosrc\.json\[1\]: the event has no source/,
      ],
      [[write('nodt.json', { source: 'a', detail: {} }), ...bus()], /^send: \S+nodt\.json: the event has no detail-type/],
      [[write('nodetail.json', { source: 'a', 'detail-type': 'b' }), ...bus()], /^send: \S+nodetail\.json: the event has no detail/],
      [[write('arr.json', { source: 'a', 'detail-type': 'b', detail: [1] }), ...bus()], /detail must be a JSON object/],
      [[write('time.json', { ...event(1), time: 'yesterday' }), ...bus()], /time must be an ISO-8601 timestamp \(got "yesterday"\)/],
      [[write('empty.json', []), ...bus()], /an empty array holds no event/],
      [[good], /^send: no destination: pass --stack NAME, --bus NAME or --queue-url URL/],
      [[good, '--bus', BUS, '--queue-url', q.ingressUrl], /--bus and --queue-url name two destinations/],
      [[good, '--queue-url', 'sqs://x'], /--queue-url must be an http\(s\) URL/],
    ];
    for (const [argv, re] of cases) {
      const r = await send(argv);
      expect(r.stderr, argv.join(' ')).toMatch(re);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
    }
    expect(eb.requests).toEqual([]);
  });

  it('--help, as its own process: usage, every option, the id note and the exit codes', async () => {
    const r = await spawnSend(['--help'], { PATH: process.env.PATH });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: npm run send -- FILES\.\.\./);
    for (const flag of ['--stack', '--bus', '--queue-url', '--endpoint-url', '--dry-run']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/PutEvents cannot set an event's id/);
    expect(r.stdout).toMatch(/0 every event sent, 1 some failed .*, 2 bad input/);
    expect(r.stderr).toBe('');
  });
});
