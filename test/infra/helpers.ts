/**
 * Shared setup for the infra tests: an App with cdk.json's context and bundling skipped (fast, no
 * esbuild), and synth results kept per configuration: a synth is most of an infra test's cost, so
 * each distinct configuration is synthesized once per process and every test that reads it shares
 * the result (the infra project runs its files in one process; see vitest.config.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import type { FunctionName } from '../../functions/commons/config.ts';
import { type CatalogModule, NangoMetadataSync, type NangoMetadataSyncProps, PROJECT_ROOT } from '../../infra/construct/index.ts';
import { addNagChecks } from '../../infra/nag.ts';
import { NangoMetadataSyncStack, type NangoMetadataSyncStackProps } from '../../infra/stack.ts';

export const cdkJson = JSON.parse(readFileSync(`${PROJECT_ROOT}/cdk.json`, 'utf8')) as { app: string; context: Record<string, unknown> };

export const FUNCTIONS: readonly FunctionName[] = ['route', 'apply', 'webhook', 'reconcile'];

/** The sample catalog, given to the construct as a user gives theirs. */
export const SAMPLE_CATALOG: CatalogModule = { path: join(PROJECT_ROOT, 'events/catalog.ts'), exportName: 'catalog' };

/**
 * Writes a catalog module (TypeScript source) under the project, so it resolves zod and the catalog
 * API as a user's module does; returns its path.
 */
export function writeCatalogModule(source: string): string {
  const cache = join(PROJECT_ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const file = join(mkdtempSync(join(cache, 'nms-catalog-')), 'catalog.ts');
  writeFileSync(file, source);
  return file;
}

/** A tag-subject event type in a written catalog module (`defineEvent` and `z` in scope). */
export const tagEventSource = (source: string, detailType: string): string =>
  `defineEvent({ source: ${JSON.stringify(source)}, detailType: ${JSON.stringify(detailType)}, description: 'test', detail: z.object({ org: z.string() }), subject: { by: 'tags', tagKeys: ['organization_id'], tags: (d) => ({ organization_id: d.org }), integrations: 'all' }, keys: ['org'], patch: (d) => ({ org: d.org }) })`;

export const CATALOG_IMPORTS = `import { z } from 'zod';\nimport { defineEvent } from ${JSON.stringify(join(PROJECT_ROOT, 'events/define.ts'))};\n`;

export function newApp(extra: Record<string, unknown> = {}): App {
  return new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...extra } });
}

const synthCache = new Map<string, unknown>();
/** The result of build() for this key, built on first use. Results are shared: tests only read them. */
function once<T>(key: string, build: () => T): T {
  if (!synthCache.has(key)) synthCache.set(key, build());
  return synthCache.get(key) as T;
}

/** The construct in a bare stack; props that are plain data (no constructs) are synthesized once per configuration. */
export function synthConstruct(props: Partial<NangoMetadataSyncProps> = {}): { template: Template; sync: NangoMetadataSync; stack: Stack } {
  const build = () => {
    const app = newApp();
    const stack = new Stack(app, 'Test');
    const sync = new NangoMetadataSync(stack, 'Sync', { catalog: SAMPLE_CATALOG, ...props });
    return { template: Template.fromStack(stack), sync, stack };
  };
  return once(`construct ${JSON.stringify(props)}`, build);
}

/**
 * The stack configurations the infra tests read, named: each is synthesized once per process with
 * the cdk-nag packs as validation plugins (so cdk-nag runs once per configuration, and a finding
 * fails the synth, as in `cdk synth`).
 */
export const STACK_CONFIGS = {
  defaults: {},
  /** Adds resources: e-mail alarms, a created bus, imported secrets by name, a cron reconcile, producers and operators, X-Ray. */
  wide: {
    stage: 'qa',
    createEventBus: true,
    producerArns: ['arn:aws:iam::123456789012:role/orders-service'],
    operatorArns: ['arn:aws:iam::123456789012:role/ops/oncall'],
    sync: {
      alarms: { email: 'ops@example.com' },
      secretId: 'prod/nango',
      webhookSecretId: 'prod/nango-webhook',
      reconcile: { schedule: 'cron(0 3 * * ? *)' },
      tracing: lambda.Tracing.ACTIVE,
    },
  },
  /** Drops resources: an existing bus, secrets by complete and partial ARN, no schedule, no deletion protection. */
  lean: {
    stage: 'prod',
    eventBusName: 'domain-events',
    sync: {
      secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango-AbC123',
      webhookSecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/nango-webhook',
      reconcile: { schedule: false },
      table: { deletionProtection: false },
    },
  },
  /** CloudFront and a WAF web ACL created in us-east-1 in front of the webhook, and purgers of the DLQs. */
  cloudFront: {
    env: { account: '123456789012', region: 'us-east-1' },
    purgerArns: ['arn:aws:iam::123456789012:role/ops/lead'],
    sync: { webhook: { cloudFront: true } },
  },
  /** CloudFront with an existing web ACL, the stack in eu-west-1. */
  cloudFrontAcl: {
    env: { account: '123456789012', region: 'eu-west-1' },
    sync: { webhook: { cloudFront: { webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/nms/0f1e2d3c' } } },
  },
} satisfies Record<string, Partial<NangoMetadataSyncStackProps>>;
export type StackConfig = keyof typeof STACK_CONFIGS;

export const STACK_ID = 'NangoMetadataSync-test';

/** A named configuration of the stack, synthesized once with cdk-nag on (throws on a finding). */
export function stackOf(name: StackConfig) {
  return once(`stack ${name}`, () => {
    const { app, stack } = buildStack(STACK_CONFIGS[name]);
    addNagChecks(app);
    return { app, stack, template: Template.fromStack(stack) };
  });
}

/** The stack as the app builds it, not synthesized (for tests that change the app before synth). */
export function buildStack(props: Partial<NangoMetadataSyncStackProps> = {}, id = STACK_ID) {
  const app = newApp();
  const stack = new NangoMetadataSyncStack(app, id, {
    stage: 'test',
    catalog: SAMPLE_CATALOG,
    ...props,
  });
  return { app, stack };
}

/** Any other stack configuration, synthesized once (without cdk-nag). */
export function synthStack(props: Partial<NangoMetadataSyncStackProps> = {}, id = STACK_ID) {
  return once(`stack ${id} ${JSON.stringify(props)}`, () => {
    const { app, stack } = buildStack(props, id);
    return { app, stack, template: Template.fromStack(stack) };
  });
}

/** The one resource of a type whose logical id starts with the prefix. */
export function resource(template: Template, type: string, logicalIdPrefix: string): { id: string; Properties: Record<string, any> } {
  const found = Object.entries(template.findResources(type)).filter(([id]) => id.startsWith(logicalIdPrefix));
  if (found.length !== 1)
    throw new Error(`expected one ${type} ${logicalIdPrefix}*, found ${found.map(([id]) => id).join(', ') || 'none'}`);
  const [id, r] = found[0]!;
  return { id, Properties: (r as { Properties: Record<string, any> }).Properties };
}
