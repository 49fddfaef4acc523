/**
 * Where the queues are: explicit flags, else the CloudFormation stack's outputs (--stack), else the
 * environment variables the functions themselves use. A CfnOutput inside a construct gets CDK's hash
 * suffix, and that form is accepted too. A version 1 stack or environment (patches queue) is still
 * read, so its DLQ can be drained after an upgrade.
 */
import { CloudFormationClient, type Output } from '@aws-sdk/client-cloudformation';
import type { Stage } from '#commons/dlq-envelope';
import { ENV } from '#commons/config';
import { OutputKeys } from '../../infra/outputs.ts';
import { findOutput, stackOutputs } from '../stack-outputs.ts';
import type { QueueFlags } from './args.ts';
import { CliError } from './errors.ts';
import { STAGE_QUEUES, type QueueRole } from './model.ts';

export const isFifoUrl = (url: string): boolean => /\.fifo$/.test(new URL(url).pathname);

export type QueueUrls = Partial<Record<QueueRole, string>>;

/** The stack's output keys (the contract with the CDK stack); the version 1 names are fallbacks. */
export const OUTPUT_KEYS: Record<QueueRole, string> = {
  ingress: OutputKeys.IngressQueueUrl,
  ingressDlq: OutputKeys.IngressDlqUrl,
  sync: OutputKeys.SyncQueueUrl,
  syncDlq: OutputKeys.SyncDlqUrl,
};
const LEGACY_OUTPUT_KEYS: Partial<Record<QueueRole, string>> = { sync: 'PatchesQueueUrl', syncDlq: 'PatchesDlqUrl' };

/** The variables the functions themselves are configured with. */
export const ENV_VARS: Record<QueueRole, string> = {
  ingress: ENV.INGRESS_QUEUE_URL,
  ingressDlq: ENV.INGRESS_DLQ_URL,
  sync: ENV.SYNC_QUEUE_URL,
  syncDlq: ENV.SYNC_DLQ_URL,
};
const LEGACY_ENV_VARS: Partial<Record<QueueRole, string>> = { sync: 'PATCHES_QUEUE_URL', syncDlq: 'PATCHES_DLQ_URL' };

export const FLAGS: Record<QueueRole, string> = {
  ingress: '--ingress-url',
  ingressDlq: '--ingress-dlq-url',
  sync: '--sync-url',
  syncDlq: '--sync-dlq-url',
};

const ROLES = Object.keys(OUTPUT_KEYS) as QueueRole[];

/** Exact key, or CDK's `<ConstructPath><Key><8 hex>` form for outputs defined inside a construct. */
export function urlsFromOutputs(outputs: readonly Output[]): QueueUrls {
  const out: QueueUrls = {};
  for (const role of ROLES) {
    const legacy = LEGACY_OUTPUT_KEYS[role];
    const v = findOutput(outputs, OUTPUT_KEYS[role]) ?? (legacy ? findOutput(outputs, legacy) : undefined);
    if (v) out[role] = v;
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
    base = urlsFromOutputs(await stackOutputs(flags.stack, cfn()));
    if (!base.ingressDlq && !base.syncDlq) {
      throw new CliError(
        `stack ${flags.stack} has no ${OUTPUT_KEYS.ingressDlq} or ${OUTPUT_KEYS.syncDlq} output; pass ${FLAGS.ingressDlq} / ${FLAGS.syncDlq}`,
      );
    }
  } else {
    for (const role of ROLES) {
      const legacy = LEGACY_ENV_VARS[role];
      const v = env[ENV_VARS[role]] || (legacy ? env[legacy] : undefined);
      if (v) base[role] = v;
    }
  }
  const explicit: QueueUrls = { ingress: flags.ingress, ingressDlq: flags.ingressDlq, sync: flags.sync, syncDlq: flags.syncDlq };
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
      `no DLQ to read: pass --stack NAME, or ${FLAGS.ingressDlq} / ${FLAGS.syncDlq} (or set ${ENV_VARS.ingressDlq} / ${ENV_VARS.syncDlq}). ` +
        'For the local pipeline also set AWS_ENDPOINT_URL_SQS.',
    );
  }
  return out;
}

export function howToGive(role: QueueRole): string {
  return `pass ${FLAGS[role]}, or --stack NAME with a ${OUTPUT_KEYS[role]} output, or set ${ENV_VARS[role]}`;
}
