/** Where events go: --bus / --queue-url, else the stack's outputs (EventBusName, or IngressQueueUrl with --queue). */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { OutputKeys } from '../../infra/outputs.ts';
import { UsageError } from '../args.ts';
import { findOutput, stackOutputs } from '../stack-outputs.ts';
import type { SendArgs } from './args.ts';

export type Destination = { kind: 'bus'; busName: string } | { kind: 'queue'; queueUrl: string };

export async function resolveDestination(
  args: SendArgs,
  cfn: () => CloudFormationClient = () => new CloudFormationClient(args.region ? { region: args.region } : {}),
): Promise<Destination> {
  if (args.queueUrl !== undefined) return { kind: 'queue', queueUrl: args.queueUrl };
  if (args.bus !== undefined) return { kind: 'bus', busName: args.bus };
  const stack = args.stack!;
  const client = cfn();
  const outputs = await stackOutputs(stack, client).finally(() => client.destroy());
  const key = args.queue ? OutputKeys.IngressQueueUrl : OutputKeys.EventBusName;
  const value = findOutput(outputs, key);
  if (!value) {
    throw new UsageError(
      `stack ${stack} has no ${key} output; pass ${args.queue ? '--queue-url URL' : '--bus NAME (or --queue to use the ingress queue)'}`,
    );
  }
  return args.queue ? { kind: 'queue', queueUrl: value } : { kind: 'bus', busName: value };
}
