/**
 * Where the queues are: explicit flags, else the CloudFormation stack's outputs (--stack), else the
 * environment variables the functions themselves use. Output keys come from infra/outputs.ts; a
 * CfnOutput inside a construct gets CDK's hash suffix, and that form is accepted too.
 */
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import type { Stage } from '#commons/dlq-envelope';
import { OutputKeys } from '../../infra/outputs.ts';
import type { QueueFlags } from './args.ts';
import { CliError, describeError } from './errors.ts';
import { STAGE_QUEUES, type QueueRole } from './model.ts';

export type QueueUrls = Partial<Record<QueueRole, string>>;

/** The stack's output keys, from infra/outputs.ts (the contract with the CDK stack). */
export const OUTPUT_KEYS: Record<QueueRole, string> = {
  ingress: OutputKeys.IngressQueueUrl,
  ingressDlq: OutputKeys.IngressDlqUrl,
  patches: OutputKeys.PatchesQueueUrl,
  patchesDlq: OutputKeys.PatchesDlqUrl,
};

export const ENV_VARS: Record<QueueRole, string> = {
  ingress: 'INGRESS_QUEUE_URL',
  ingressDlq: 'INGRESS_DLQ_URL',
  patches: 'PATCHES_QUEUE_URL',
  patchesDlq: 'PATCHES_DLQ_URL',
};

const ROLES = Object.keys(OUTPUT_KEYS) as QueueRole[];

/** Exact key, or CDK's `<ConstructPath><Key><8 hex>` form for outputs defined inside a construct. */
export function urlsFromOutputs(outputs: readonly Output[]): QueueUrls {
  const out: QueueUrls = {};
  for (const role of ROLES) {
    const key = OUTPUT_KEYS[role];
    const exact = outputs.find((o) => o.OutputKey === key);
    const nested = outputs.filter((o) => o.OutputKey !== undefined && new RegExp(`${key}[0-9A-F]{8}$`).test(o.OutputKey));
    const hit = exact ?? (nested.length === 1 ? nested[0] : undefined);
    if (nested.length > 1 && !exact) {
      throw new CliError(`the stack has several ${key} outputs (${nested.map((o) => o.OutputKey).join(', ')}); pass the URLs explicitly`);
    }
    if (hit?.OutputValue) out[role] = hit.OutputValue;
  }
  return out;
}

export async function resolveQueueUrls(
  flags: QueueFlags,
  env: NodeJS.ProcessEnv,
  cfn: () => CloudFormationClient = () => new CloudFormationClient(flags.region ? { region: flags.region } : {}),
): Promise<QueueUrls> {
  let base: QueueUrls = {};
  if (flags.stack) {
    let outputs: Output[];
    try {
      const r = await cfn().send(new DescribeStacksCommand({ StackName: flags.stack }));
      outputs = r.Stacks?.[0]?.Outputs ?? [];
    } catch (e) {
      throw describeError(e, { stack: flags.stack });
    }
    base = urlsFromOutputs(outputs);
    if (!base.ingressDlq && !base.patchesDlq) {
      throw new CliError(
        `stack ${flags.stack} has no ${OUTPUT_KEYS.ingressDlq} or ${OUTPUT_KEYS.patchesDlq} output; pass --ingress-dlq-url / --patches-dlq-url`,
      );
    }
  } else {
    for (const role of ROLES) if (env[ENV_VARS[role]]) base[role] = env[ENV_VARS[role]];
  }
  const explicit: QueueUrls = {
    ingress: flags.ingress,
    ingressDlq: flags.ingressDlq,
    patches: flags.patches,
    patchesDlq: flags.patchesDlq,
  };
  const merged: QueueUrls = { ...base };
  for (const role of ROLES) if (explicit[role]) merged[role] = explicit[role];
  return merged;
}

/** The DLQs a command reads: the stages asked for, or every stage whose DLQ is known. */
export function dlqsFor(urls: QueueUrls, stages: readonly Stage[] | undefined): { stage: Stage; url: string }[] {
  const wanted: Stage[] = stages?.length ? [...new Set(stages)] : ['route', 'apply'];
  const out: { stage: Stage; url: string }[] = [];
  for (const stage of wanted) {
    const role = STAGE_QUEUES[stage].dlq;
    const url = urls[role];
    if (url) out.push({ stage, url });
    else if (stages?.length) throw new CliError(`no URL for the ${stage} stage's DLQ: ${howToGive(role)}`);
  }
  if (!out.length) {
    throw new CliError(
      `no DLQ to read: pass --stack NAME, or --ingress-dlq-url / --patches-dlq-url (or set ${ENV_VARS.ingressDlq} / ${ENV_VARS.patchesDlq}). ` +
        'For the local pipeline also set AWS_ENDPOINT_URL_SQS.',
    );
  }
  return out;
}

export function howToGive(role: QueueRole): string {
  const flag = { ingress: '--ingress-url', ingressDlq: '--ingress-dlq-url', patches: '--patches-url', patchesDlq: '--patches-dlq-url' }[
    role
  ];
  return `pass ${flag}, or --stack NAME with a ${OUTPUT_KEYS[role]} output, or set ${ENV_VARS[role]}`;
}
