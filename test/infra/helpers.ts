/** Shared setup for the infra tests: an App with cdk.json's context and bundling skipped (fast, no esbuild). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { FunctionName } from '../../functions/commons/config.ts';
import { NangoMetadataSync, type NangoMetadataSyncProps, PROJECT_ROOT } from '../../infra/construct/index.ts';
import { NangoMetadataSyncStack, type NangoMetadataSyncStackProps } from '../../infra/stack.ts';

export const cdkJson = JSON.parse(readFileSync(`${PROJECT_ROOT}/cdk.json`, 'utf8')) as { app: string; context: Record<string, unknown> };

export const FUNCTIONS: readonly FunctionName[] = ['route', 'apply', 'webhook', 'reconcile'];
export const entryPath = (fn: FunctionName): string => join(PROJECT_ROOT, 'functions', `${fn}.ts`);

/**
 * Handlers not yet in this checkout are replaced by a fixture so the template can be built; the
 * bundle test covers the real entries.
 */
export const ENTRY_FALLBACKS: Partial<Record<FunctionName, string>> = Object.fromEntries(
  FUNCTIONS.filter((fn) => !existsSync(entryPath(fn))).map((fn) => [fn, join(PROJECT_ROOT, 'test/infra/fixtures/handler.ts')]),
);

export function newApp(extra: Record<string, unknown> = {}): App {
  return new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...extra } });
}

export function synthConstruct(props: NangoMetadataSyncProps = {}): { template: Template; sync: NangoMetadataSync; stack: Stack } {
  const app = newApp();
  const stack = new Stack(app, 'Test');
  const sync = new NangoMetadataSync(stack, 'Sync', { ...props, entries: { ...ENTRY_FALLBACKS, ...props.entries } });
  return { template: Template.fromStack(stack), sync, stack };
}

export function synthStack(props: Partial<NangoMetadataSyncStackProps> = {}, id = 'NangoMetadataSync-test') {
  const app = newApp();
  const stack = new NangoMetadataSyncStack(app, id, {
    stage: 'test',
    ...props,
    sync: { ...props.sync, entries: { ...ENTRY_FALLBACKS, ...props.sync?.entries } },
  });
  return { app, stack, template: Template.fromStack(stack) };
}

/** The one resource of a type whose logical id starts with the prefix. */
export function resource(template: Template, type: string, logicalIdPrefix: string): { id: string; Properties: Record<string, any> } {
  const found = Object.entries(template.findResources(type)).filter(([id]) => id.startsWith(logicalIdPrefix));
  if (found.length !== 1)
    throw new Error(`expected one ${type} ${logicalIdPrefix}*, found ${found.map(([id]) => id).join(', ') || 'none'}`);
  const [id, r] = found[0]!;
  return { id, Properties: (r as { Properties: Record<string, any> }).Properties };
}
