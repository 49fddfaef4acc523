/** A deployed stack's outputs, for the CLIs that take `--stack`: read once, found by key. */
import { type CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { CliError, describeError } from './errors.ts';

export async function stackOutputs(stack: string, cfn: CloudFormationClient): Promise<Output[]> {
  try {
    return (await cfn.send(new DescribeStacksCommand({ StackName: stack }))).Stacks?.[0]?.Outputs ?? [];
  } catch (e) {
    throw describeError(e, { stack });
  }
}

/** Exact key, or CDK's `<ConstructPath><Key><8 hex>` form for outputs defined inside a construct. */
export function findOutput(outputs: readonly Output[], key: string): string | undefined {
  const exact = outputs.find((o) => o.OutputKey === key);
  const nested = outputs.filter((o) => o.OutputKey !== undefined && new RegExp(`${key}[0-9A-F]{8}$`).test(o.OutputKey));
  if (nested.length > 1 && !exact) {
    throw new CliError(`the stack has several ${key} outputs (${nested.map((o) => o.OutputKey).join(', ')}); pass the URLs explicitly`);
  }
  return (exact ?? (nested.length === 1 ? nested[0] : undefined))?.OutputValue || undefined;
}
