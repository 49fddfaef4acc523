/** Shared setup for the infra tests: an App with cdk.json's context and bundling skipped (fast, no esbuild). */
import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { NangoMetadataSync, PROJECT_ROOT, type NangoMetadataSyncProps } from '../../infra/nango-metadata-sync.ts';
import { NangoMetadataSyncStack, type NangoMetadataSyncStackProps } from '../../infra/stack.ts';

export const cdkJson = JSON.parse(readFileSync(`${PROJECT_ROOT}/cdk.json`, 'utf8')) as { app: string; context: Record<string, unknown> };

export function newApp(extra: Record<string, unknown> = {}): App {
  return new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...extra } });
}

export function synthConstruct(props: NangoMetadataSyncProps = {}): { template: Template; sync: NangoMetadataSync; stack: Stack } {
  const app = newApp();
  const stack = new Stack(app, 'Test');
  const sync = new NangoMetadataSync(stack, 'Sync', props);
  return { template: Template.fromStack(stack), sync, stack };
}

export function synthStack(props: Partial<NangoMetadataSyncStackProps> = {}, id = 'NangoMetadataSync-test') {
  const app = newApp();
  const stack = new NangoMetadataSyncStack(app, id, { stage: 'test', ...props });
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
