/**
 * The bundle test: `cdk synth` through the real CLI (cdk.json -> infra/app.ts, cdk-nag on, local
 * esbuild, no Docker, no AWS credentials), then each synthesized bundle -- the built .mjs, not the
 * source -- runs in a fresh Node process against the local stand-ins: an event goes through route
 * into the patches FIFO queue, apply writes it to the Nango stand-in, an invalid event lands in the
 * ingress DLQ. A bundling fault (unresolved import, missing banner, bad format) fails here.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { parseEnvelope } from '../../functions/commons/dlq-envelope.ts';
import { ESM_BANNER, PROJECT_ROOT } from '../../infra/nango-metadata-sync.ts';
import { toRecord } from '../../local/event-source.ts';
import { startNangoStandin, type NangoStandin } from '../../local/standins/nango.ts';
import { startSecretsManagerStandin, type SecretsManagerStandin } from '../../local/standins/secrets-manager.ts';
import { startLocalSqs, type LocalSqs, type PipelineQueues } from '../../local/standins/sqs.ts';

const STACK = 'NangoMetadataSync-bundletest';
const RESULT_MARK = '@@invoke-result@@ ';
const SECRET_NAME = 'bundle-test/nango';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; input?: string; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** The environment with every AWS credential source removed: synth must not need one. */
function noCredentials(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^AWS_/.test(k)) delete env[k];
  return { ...env, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', ...extra };
}

let outdir: string;
let template: any;
const bundles: Record<'route' | 'apply', { file: string; env: Record<string, unknown> }> = {} as never;
let synth: Run;

let sqs: LocalSqs;
let queues: PipelineQueues;
let secrets: SecretsManagerStandin;
let nango: NangoStandin;
const secretKey = randomUUID();

beforeAll(async () => {
  const cacheDir = join(PROJECT_ROOT, 'node_modules', '.cache');
  mkdirSync(cacheDir, { recursive: true });
  // Under the project so the bundles resolve @aws-sdk/* from node_modules, as the Lambda runtime provides it.
  outdir = mkdtempSync(join(cacheDir, 'nms-bundle-test-'));
  synth = await run(
    process.execPath,
    [join(PROJECT_ROOT, 'node_modules/aws-cdk/bin/cdk'), 'synth', '--quiet', '--output', outdir, '-c', 'stage=bundletest'],
    {
      env: noCredentials({ CDK_HOME: join(outdir, '.cdk-home') }),
      timeoutMs: 150_000,
    },
  );
  if (synth.code !== 0) throw new Error(`cdk synth failed (${synth.code}):\n${synth.stderr.slice(-4000)}`);
  template = JSON.parse(readFileSync(join(outdir, `${STACK}.template.json`), 'utf8'));
  for (const [name, prefix] of [
    ['route', 'SyncRoute'],
    ['apply', 'SyncApply'],
  ] as const) {
    const [, fn] = Object.entries(template.Resources).find(
      ([id, r]: [string, any]) => r.Type === 'AWS::Lambda::Function' && new RegExp(`^${prefix}[0-9A-F]{8}$`).test(id),
    ) as [string, any];
    const assetHash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    bundles[name] = { file: join(outdir, `asset.${assetHash}`, 'index.mjs'), env: fn.Properties.Environment.Variables };
  }

  sqs = await startLocalSqs();
  queues = await sqs.createPipelineQueues({ prefix: 'bundle-' });
  secrets = await startSecretsManagerStandin({ secrets: { [SECRET_NAME]: secretKey } });
  nango = await startNangoStandin({
    secretKey,
    connections: [
      { connectionId: 'acme-corp', providerConfigKey: 'salesforce', metadata: { plan: 'starter', seats: 10 } },
      { connectionId: 'acme-corp', providerConfigKey: 'hubspot', metadata: null },
    ],
  });
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([sqs?.close(), secrets?.close(), nango?.close()]);
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/** The function's environment from the template, its references replaced by the local stand-ins. */
function localEnv(fnEnv: Record<string, unknown>): NodeJS.ProcessEnv {
  const byRef: Record<string, string> = {
    PATCHES_QUEUE_URL: queues.patchesUrl,
    INGRESS_DLQ_URL: queues.ingressDlqUrl,
    PATCHES_DLQ_URL: queues.patchesDlqUrl,
    NANGO_SECRET_ID: SECRET_NAME,
  };
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(fnEnv)) {
    if (typeof v === 'string') env[k] = v;
    else if (byRef[k]) env[k] = byRef[k];
    else throw new Error(`no local value for ${k} = ${JSON.stringify(v)}`);
  }
  return {
    PATH: process.env.PATH,
    ...env,
    NANGO_HOST: nango.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

async function invoke(name: 'route' | 'apply', events: unknown[]): Promise<{ results: unknown[]; logs: string }> {
  const b = bundles[name];
  const out = await run(process.execPath, [join(PROJECT_ROOT, 'test/infra/invoke-bundle.mjs'), b.file, name, '30000'], {
    env: localEnv(b.env),
    input: JSON.stringify(events),
    timeoutMs: 60_000,
  });
  if (out.code !== 0) throw new Error(`${name} bundle exited ${out.code}:\n${out.stderr.slice(-3000)}`);
  const lines = out.stdout.split('\n');
  const results = lines.filter((l) => l.startsWith(RESULT_MARK)).map((l) => JSON.parse(l.slice(RESULT_MARK.length)));
  return { results, logs: lines.filter((l) => !l.startsWith(RESULT_MARK)).join('\n') + out.stderr };
}

async function receiveAll(url: string): Promise<Message[]> {
  const out = await sqs.client().send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

async function arnOf(url: string): Promise<string> {
  const a = await sqs.client().send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return a.Attributes!['QueueArn']!;
}

describe('synthesized bundles', () => {
  it('cdk synth succeeded offline with no credentials and no Docker, cdk-nag on, two ESM bundles', () => {
    expect(synth.code).toBe(0);
    expect(synth.stderr).not.toMatch(/docker/i);
    expect(synth.stderr).not.toMatch(/AwsSolutions-|Serverless-/);
    for (const name of ['route', 'apply'] as const) {
      const { file } = bundles[name];
      expect(existsSync(file), file).toBe(true);
      expect(existsSync(`${file}.map`)).toBe(true);
      const code = readFileSync(file, 'utf8');
      expect(code.startsWith(ESM_BANNER)).toBe(true);
      // @aws-sdk/* is left to the runtime: imported, not inlined.
      expect(code).toMatch(/from"@aws-sdk\/client-sqs"/);
      expect(code).not.toMatch(/from"#(commons|events|powertools)\//);
      expect(statSync(file).size).toBeLessThan(3 * 1024 * 1024);
      expect(readdirSync(join(file, '..')).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    }
  });

  it('route bundle: a catalog event becomes one patch per integration on the FIFO queue; an invalid one goes to the ingress DLQ', async () => {
    const valid = readFileSync(join(PROJECT_ROOT, 'events/samples/01-plan-changed-acme.json'), 'utf8');
    const invalid = readFileSync(join(PROJECT_ROOT, 'events/samples/90-invalid-unknown-type.json'), 'utf8');
    const client = sqs.client();
    await client.send(new SendMessageCommand({ QueueUrl: queues.ingressUrl, MessageBody: valid }));
    await client.send(new SendMessageCommand({ QueueUrl: queues.ingressUrl, MessageBody: invalid }));
    const received = await receiveAll(queues.ingressUrl);
    expect(received).toHaveLength(2);
    const ingressArn = await arnOf(queues.ingressUrl);
    const event = { Records: received.map((m) => toRecord(m, ingressArn, 'us-east-1')) };

    const { results, logs } = await invoke('route', [event]);
    expect(results).toEqual([{ batchItemFailures: [] }]);
    expect(logs).not.toContain(secretKey);

    const dlq = await receiveAll(queues.ingressDlqUrl);
    expect(dlq).toHaveLength(1);
    expect(parseEnvelope(dlq[0]!.Body!)).toMatchObject({ stage: 'route' });
  });

  it('apply bundle: the patches reach Nango (shallow merge) and the queue is done', async () => {
    const patches = await receiveAll(queues.patchesUrl);
    expect(patches.map((m) => m.Attributes?.MessageGroupId).filter(Boolean)).toHaveLength(2);
    const patchesArn = await arnOf(queues.patchesUrl);
    const event = { Records: patches.map((m) => toRecord(m, patchesArn, 'us-east-1')) };

    const { results, logs } = await invoke('apply', [event]);
    expect(results).toEqual([{ batchItemFailures: [] }]);
    expect(logs).not.toContain(secretKey);
    expect(nango.metadataOf('acme-corp', 'salesforce')).toMatchObject({ plan: 'pro', planChangedAt: '2026-11-20T09:00:00Z', seats: 10 });
    expect(nango.metadataOf('acme-corp', 'hubspot')).toMatchObject({ plan: 'pro' });
    expect(await receiveAll(queues.patchesDlqUrl)).toEqual([]);
    expect(secrets.calls()).toBeGreaterThanOrEqual(1);
  });
});
