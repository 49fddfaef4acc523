/** cdk-nag 3 packs run as CDK validation plugins: any unacknowledged finding fails `cdk synth`. */
import { Validations, type App } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';

export const nagPacks = (scope?: IConstruct) => [new AwsSolutionsChecks(scope), new ServerlessChecks(scope)];

export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(...nagPacks(app));
}
