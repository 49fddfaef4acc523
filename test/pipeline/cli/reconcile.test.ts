/**
 * `npm run reconcile` against the local pipeline: metadata changed behind our back at the Nango
 * stand-in (as Nango's dashboard or a function replacing it whole) is listed exactly with --dry-run,
 * nothing is enqueued, and without --dry-run the drifted connections are repaired.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectId } from '#commons/domain/subject';
import { main, subjectArg } from '../../../cli/reconcile.ts';
import { type LocalPipeline, startLocalPipeline } from '../../../local/pipeline.ts';
import { planChanged } from '../../support/events.ts';

const ACME_SF = { connectionId: '3b1f6a52-8e0c-4d1e-9f3a-5c2b7d9e1a01', providerConfigKey: 'salesforce' };
const ACME_HS = { connectionId: '3b1f6a52-8e0c-4d1e-9f3a-5c2b7d9e1a02', providerConfigKey: 'hubspot' };

const capture = () => {
  let text = '';
  return { out: { write: (t: string) => void (text += t), isTTY: false }, text: () => text };
};
const run = async (argv: string[], env: NodeJS.ProcessEnv = process.env) => {
  const out = capture();
  const err = capture();
  const code = await main(argv, { out: out.out, err: err.out, env });
  return { code, out: out.text(), err: err.text() };
};

describe('--subject', () => {
  it("names a subject by route's own id: tag keys in code-unit order, percent-encoded, a long one digested", () => {
    const tags = { a_1: 'x y', a1: 'z', Org: 'acme' };
    expect(subjectArg('a_1=x y&a1=z&Org=acme')).toBe(subjectId({ by: 'tags', tags, integrations: 'all' }));
    expect(subjectArg('a_1=x y&a1=z&Org=acme')).toBe('tags:Org=acme&a1=z&a_1=x%20y');
    const long = `org=${'v'.repeat(1_200)}`;
    expect(subjectArg(long)).toMatch(/^tags#[0-9a-f]{64}$/);
    expect(subjectArg('connection:acme')).toBe('connection:acme');
  });
});

describe('npm run reconcile (local pipeline)', () => {
  let p: LocalPipeline;
  beforeAll(async () => {
    p = await startLocalPipeline();
    await p.send([planChanged('acme', 'pro', '2026-11-20T09:00:00.000Z', { id: 'plan-1' })]);
    await p.drain();
  }, 60_000);
  afterAll(() => p?.stop());

  it('--dry-run lists exactly the drifted keys, enqueues nothing, and exits 1', async () => {
    const nango = p.nango!;
    nango.setMetadataBehindOurBack(ACME_SF.connectionId, ACME_SF.providerConfigKey, {
      plan: 'free',
      planChangedAt: '2026-11-20T09:00:00.000Z',
      note: 'theirs',
    });
    nango.setMetadataBehindOurBack(ACME_HS.connectionId, ACME_HS.providerConfigKey, null);
    const before = nango.requests.filter((r) => r.method === 'PATCH').length;

    const r = await run(['--dry-run', '--json']);
    expect(r.code, r.err).toBe(1);
    const report = JSON.parse(r.out) as {
      checked: number;
      drifted: { connectionId: string; drift: { key: string; atNango: unknown; desired: unknown }[] }[];
    };
    const byConn = Object.fromEntries(report.drifted.map((d) => [d.connectionId, d.drift.sort((a, b) => a.key.localeCompare(b.key))]));
    expect(byConn).toEqual({
      [ACME_SF.connectionId]: [{ key: 'plan', atNango: 'free', desired: 'pro' }],
      [ACME_HS.connectionId]: [
        { key: 'plan', desired: 'pro' },
        { key: 'planChangedAt', desired: '2026-11-20T09:00:00.000Z' },
      ],
    });
    // Six seed connections; the one without tags or an id subject with state is still checked by id.
    expect(report.checked).toBe(6);
    await p.drain();
    expect(nango.requests.filter((r) => r.method === 'PATCH').length).toBe(before);
    expect(nango.metadataOf(ACME_SF.connectionId, ACME_SF.providerConfigKey)).toMatchObject({ plan: 'free' });
  });

  it('prints the drift for people, with progress on stderr', async () => {
    const r = await run(['--dry-run']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${ACME_SF.connectionId} / salesforce  (tags:organization_id=acme)`);
    expect(r.out).toContain('plan: at Nango "free" -> desired "pro"');
    expect(r.out).toContain('planChangedAt: at Nango (absent) -> desired "2026-11-20T09:00:00.000Z"');
    expect(r.out).toContain('2 connections drifted (3 keys)');
    expect(r.err).toMatch(/reconcile: 1 page/);
  });

  it.each([
    // `npm run reconcile --dry-run`: npm keeps the flag (npm_config_dry_run) and passes nothing on.
    [[], { npm_config_dry_run: 'true' }, /npm took --dry-run for itself.*npm run reconcile -- --dry-run/],
    // `npm run reconcile -- dry-run`: a flag without its dashes.
    [['dry-run'], {}, /Unexpected argument 'dry-run'/],
  ])('a --dry-run that did not arrive (%j %j) repairs nothing and exits 2', async (argv, envOver, message) => {
    const nango = p.nango!;
    const before = nango.requests.filter((r) => r.method === 'PATCH').length;
    const r = await run(argv, { ...process.env, ...envOver });
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
    await p.drain();
    expect(nango.requests.filter((r) => r.method === 'PATCH').length).toBe(before);
    expect(nango.metadataOf(ACME_SF.connectionId, ACME_SF.providerConfigKey)).toMatchObject({ plan: 'free' });
  });

  it('without --dry-run repairs them: one PATCH per drifted connection, keys not ours left alone', async () => {
    const r = await run([]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('2 repair syncs enqueued');
    await p.drain();
    expect(p.nango!.metadataOf(ACME_SF.connectionId, ACME_SF.providerConfigKey)).toEqual({
      plan: 'pro',
      planChangedAt: '2026-11-20T09:00:00.000Z',
      note: 'theirs',
    });
    expect(p.nango!.metadataOf(ACME_HS.connectionId, ACME_HS.providerConfigKey)).toEqual({
      plan: 'pro',
      planChangedAt: '2026-11-20T09:00:00.000Z',
    });
    const again = await run(['--dry-run']);
    expect(again.code).toBe(0);
    expect(again.out).toContain('0 connections drifted');
  });

  it('--subject narrows the check to one subject', async () => {
    p.nango!.setMetadataBehindOurBack(ACME_SF.connectionId, ACME_SF.providerConfigKey, {});
    const other = await run(['--dry-run', '--json', '--subject', 'organization_id=globex']);
    expect(JSON.parse(other.out)).toMatchObject({ drifted: [] });
    const mine = await run(['--dry-run', '--json', '--subject', 'organization_id=acme']);
    expect((JSON.parse(mine.out) as { drifted: unknown[] }).drifted).toHaveLength(1);
  });

  it.each([
    [['--page-size', '0'], 2, /--page-size must be 1-1000/],
    [['--bogus'], 2, /Unknown option/],
    [['--subject', 'nonsense'], 2, /--subject: expected tag=value/],
  ])('%j exits %i with a clear message', async (argv, code, message) => {
    const r = await run(argv);
    expect(r.code).toBe(code);
    expect(r.err).toMatch(message);
  });

  it('without a table or queue configured, exits 2 saying what is missing', async () => {
    const r = await run([], { ...process.env, STATE_TABLE_NAME: '' });
    expect(r.code).toBe(2);
    expect(r.err).toContain('no state table: pass --stack or set STATE_TABLE_NAME');
  });

  it.each([
    [{ NANGO_SECRET_KEY: 'not-a-uuid' }, [], /the Nango secret key: the Nango secret key is not a UUID/],
    [{ NANGO_SECRET_KEY: '{"host": "x"' }, [], /the Nango secret key: .*does not parse/],
    [{}, ['--nango-host', 'ftp://nango.example'], /the Nango host must be an http\(s\) URL/],
  ])('a configuration error (%j %j) exits 2, like send and dlq', async (envOver, argv, message) => {
    const r = await run(['--dry-run', ...argv], { ...process.env, ...envOver });
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
  });

  it.each([[['--status']], [['--request-repair']], [['--dry-run']]])(
    'without AWS credentials, %j says so in words an operator can act on, and exits 2',
    async (argv) => {
      const names = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'];
      const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
      const files = { AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_CONFIG_FILE: '/nonexistent/config' };
      const savedFiles = Object.fromEntries(Object.keys(files).map((n) => [n, process.env[n]]));
      const imds = process.env.AWS_EC2_METADATA_DISABLED;
      for (const n of names) delete process.env[n];
      Object.assign(process.env, files, { AWS_EC2_METADATA_DISABLED: 'true' });
      try {
        // No NANGO_SECRET_KEY: the full run reads the key from Secrets Manager, which needs credentials.
        const r = await run(argv, { ...process.env, NANGO_SECRET_KEY: '' });
        expect(r.err).toMatch(/^npm run reconcile: no AWS credentials found: set AWS_PROFILE/);
        expect(r.code).toBe(2);
      } finally {
        for (const [n, v] of Object.entries({ ...saved, ...savedFiles, AWS_EC2_METADATA_DISABLED: imds }))
          if (v === undefined) delete process.env[n];
          else process.env[n] = v;
      }
    },
  );

  it('a key Nango refuses (401) is configuration too: exit 2', async () => {
    const r = await run(['--dry-run'], { ...process.env, NANGO_SECRET_KEY: '00000000-0000-4000-8000-000000000000' });
    expect(r.code, r.err).toBe(2);
  });

  it('--help prints usage and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: npm run reconcile/);
  });
});
