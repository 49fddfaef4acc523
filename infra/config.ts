/**
 * Deployment configuration for infra/app.ts: each setting from CDK context (`-c key=value` or
 * cdk.json) or else from an environment variable NMS_<KEY_IN_SNAKE_CASE>. Context given on the
 * command line is a string, so numbers and booleans are parsed here, with an error naming the key.
 */
import { Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { ApplyOrdering, LogLevel, NangoEndpoint } from './nango-metadata-sync.ts';
import type { NangoMetadataSyncStackProps } from './stack.ts';

/** Every key the app reads, with what it sets. The README's table is generated from the same words. */
export const SETTINGS = {
  stage: 'stage name (default dev)',
  stackName: 'CloudFormation stack name (default NangoMetadataSync-<stage>)',
  nangoHost: 'Nango API base URL (default https://api.nango.dev)',
  nangoEndpoint: 'current | legacy (default current)',
  secretId: 'name or ARN of an existing secret with the Nango key (default: create an empty one)',
  eventBusName: 'event bus to listen on (default: the default bus)',
  createEventBus: 'true to create the bus named eventBusName (default nango-metadata-sync-<stage>)',
  alarmEmail: 'e-mail address subscribed to the alarm topic',
  logLevel: 'DEBUG | INFO | WARN | ERROR (default INFO)',
  logRetentionDays: 'log retention in days, a CloudWatch Logs value such as 7, 30, 90 (default 30)',
  routeBatchSize: 'route records per invocation (default 50)',
  routeMaxBatchingWindowSeconds: 'route batching window (default 1)',
  routeMaxConcurrency: 'route concurrent invocations (default 10)',
  routeTimeoutSeconds: 'route timeout (default 30)',
  routeMemorySize: 'route memory MB (default 512)',
  applyBatchSize: 'apply messages per invocation, at most 10 (default 10)',
  applyMaxConcurrency: 'apply concurrent invocations: bounds the Nango request rate (default 2)',
  applyGroupConcurrency: 'connections applied concurrently per invocation (default 8)',
  applyTimeoutSeconds: 'apply timeout (default 90)',
  applyOrdering: 'event-time | arrival (default event-time)',
  applyMemorySize: 'apply memory MB (default 512)',
  ingressMaxReceiveCount: 'ingress receives before its DLQ (default 5)',
  patchesMaxReceiveCount: 'patches receives before its DLQ, also MAX_RECEIVE_COUNT (default 5)',
  nangoTimeoutMs: 'one Nango request timeout in ms (default 10000)',
} as const;

export type SettingKey = keyof typeof SETTINGS;

export const envName = (key: string): string => `NMS_${key.replace(/[A-Z]/g, (m) => `_${m}`).toUpperCase()}`;

export interface AppConfig {
  stackName: string;
  props: NangoMetadataSyncStackProps;
}

/** `context(key)` is `app.node.tryGetContext`; `env` is process.env. */
export function readConfig(context: (key: string) => unknown, env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = [];
  const raw = (key: SettingKey): string | undefined => {
    const v = context(key) ?? env[envName(key)];
    if (v === undefined || v === null || v === '') return undefined;
    return String(v);
  };
  const str = (key: SettingKey) => raw(key);
  const int = (key: SettingKey): number | undefined => {
    const v = raw(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) {
      problems.push(`${key} (context) / ${envName(key)} (env) must be an integer (got "${v}")`);
      return undefined;
    }
    return n;
  };
  const bool = (key: SettingKey): boolean | undefined => {
    const v = raw(key);
    if (v === undefined) return undefined;
    if (v === 'true' || v === 'false') return v === 'true';
    problems.push(`${key} (context) / ${envName(key)} (env) must be true or false (got "${v}")`);
    return undefined;
  };
  const secs = (key: SettingKey) => {
    const n = int(key);
    return n === undefined ? undefined : Duration.seconds(n);
  };

  const stage = str('stage') ?? 'dev';
  const retentionDays = int('logRetentionDays');
  if (retentionDays !== undefined && !Object.values(logs.RetentionDays).includes(retentionDays as logs.RetentionDays)) {
    problems.push(`logRetentionDays must be a CloudWatch Logs retention such as 1, 7, 30, 90, 365 (got ${retentionDays})`);
  }
  const nangoTimeoutMs = int('nangoTimeoutMs');

  const props: NangoMetadataSyncStackProps = {
    stage,
    eventBusName: str('eventBusName'),
    createEventBus: bool('createEventBus'),
    description: `nango-metadata-sync (${stage}): domain events to Nango connection metadata`,
    sync: {
      nangoHost: str('nangoHost'),
      nangoEndpoint: str('nangoEndpoint') as NangoEndpoint | undefined,
      nangoTimeout: nangoTimeoutMs === undefined ? undefined : Duration.millis(nangoTimeoutMs),
      secretId: str('secretId'),
      logLevel: str('logLevel') as LogLevel | undefined,
      logRetention: retentionDays as logs.RetentionDays | undefined,
      alarms: { email: str('alarmEmail') },
      route: {
        batchSize: int('routeBatchSize'),
        maxBatchingWindow: secs('routeMaxBatchingWindowSeconds'),
        maxConcurrency: int('routeMaxConcurrency'),
        timeout: secs('routeTimeoutSeconds'),
        memorySize: int('routeMemorySize'),
      },
      apply: {
        batchSize: int('applyBatchSize'),
        maxConcurrency: int('applyMaxConcurrency'),
        groupConcurrency: int('applyGroupConcurrency'),
        timeout: secs('applyTimeoutSeconds'),
        memorySize: int('applyMemorySize'),
        ordering: str('applyOrdering') as ApplyOrdering | undefined,
      },
      ingressQueue: { maxReceiveCount: int('ingressMaxReceiveCount') },
      patchesQueue: { maxReceiveCount: int('patchesMaxReceiveCount') },
    },
  };
  if (problems.length > 0) throw new Error(`invalid deployment configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { stackName: str('stackName') ?? `NangoMetadataSync-${stage}`, props };
}
