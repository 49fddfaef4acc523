// A user's CDK app: the README's stack, with cdk-nag.
import { fileURLToPath } from 'node:url';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { NangoMetadataSync } from 'nango-metadata-sync';

const app = new App();
const stack = new Stack(app, 'ShopSync');
const sync = new NangoMetadataSync(stack, 'NangoSync', {
  catalog: { path: fileURLToPath(new URL('../src/catalog.ts', import.meta.url)), exportName: 'catalog' },
  alarms: { email: 'ops@example.com' },
});
stack.exportValue(sync.webhookUrl.url, { name: 'ShopSyncWebhookUrl' });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
app.synth();
