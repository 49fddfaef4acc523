/**
 * The CDK app (cdk.json runs it with tsx). Environment-agnostic: no account or region lookups, so
 * `cdk synth` works offline with no credentials. Configuration: see infra/config.ts (context or NMS_* env).
 */
import { App } from 'aws-cdk-lib';
import { readConfig } from './config.ts';
import { addNagChecks } from './nag.ts';
import { NangoMetadataSyncStack } from './stack.ts';

const app = new App();
const { stackName, props } = readConfig((key) => app.node.tryGetContext(key));
new NangoMetadataSyncStack(app, stackName, { ...props, stackName });
addNagChecks(app);
app.synth();
