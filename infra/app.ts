/**
 * The CDK app (cdk.json runs it with tsx). Environment-agnostic: no account or region lookups, so
 * `cdk synth` works offline with no credentials. Configuration: see infra/config.ts (context or NMS_* env).
 */
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { readConfig } from './config.ts';
import { addNagChecks } from './nag.ts';
import { NangoMetadataSyncStack } from './stack.ts';

const app = new App();
const { stackName, props } = readConfig((key) => app.node.tryGetContext(key));
// The sample catalog, given as any user gives theirs: a module path and its export.
const catalog = { path: fileURLToPath(new URL('../events/catalog.ts', import.meta.url)), exportName: 'catalog' };
new NangoMetadataSyncStack(app, stackName, { ...props, stackName, catalog });
addNagChecks(app);
app.synth();
