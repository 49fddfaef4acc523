/**
 * Deployment configuration for infra/app.ts: each setting from CDK context (`-c key=value` or
 * cdk.json) or else from an environment variable NMS_<KEY_IN_SNAKE_CASE>. Context given on the
 * command line is a string, so numbers and booleans are parsed here, with an error naming the key.
 */
import { Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { LogLevel } from './construct/index.ts';
import { APP_KEYS, CONTEXT_KEYS, type ContextSetting, SETTING_KEYS } from './context-keys.ts';
import type { NangoMetadataSyncStackProps } from './stack.ts';

/** Every key the app reads, with what it sets (the app's own keys, then the settings table's). */
export const SETTINGS = CONTEXT_KEYS;
export type SettingKey = keyof typeof APP_KEYS | string;

export const envName = (key: string): string => `NMS_${key.replace(/[A-Z]/g, (m) => `_${m}`).toUpperCase()}`;

export interface AppConfig {
  stackName: string;
  props: Omit<NangoMetadataSyncStackProps, 'catalog'>;
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
  /** A comma-separated string (-c or env) or a list (cdk.json). */
  const list = (key: SettingKey): string[] | undefined => {
    const v = context(key) ?? env[envName(key)];
    if (v === undefined || v === null || v === '') return undefined;
    const items = (Array.isArray(v) ? v.map(String) : String(v).split(',')).map((s) => s.trim()).filter(Boolean);
    return items.length > 0 ? items : undefined;
  };
  const secs = (key: SettingKey) => {
    const n = int(key);
    return n === undefined ? undefined : Duration.seconds(n);
  };

  const settingValue = ({ key, unit }: ContextSetting): unknown => {
    switch (unit) {
      case 'seconds':
        return secs(key);
      case 'seconds or false':
        return raw(key) === 'false' ? false : secs(key);
      case 'milliseconds': {
        const n = int(key);
        return n === undefined ? undefined : Duration.millis(n);
      }
      case 'count':
        return int(key);
      case 'flag':
        return bool(key);
      default:
        return str(key);
    }
  };

  /** `false` turns the schedule off; anything else is an expression the construct checks. */
  const schedule = (): string | false | undefined => {
    const v = raw('reconcileSchedule');
    return v === 'false' ? false : v;
  };

  const stage = str('stage') ?? 'dev';
  const retentionDays = int('logRetentionDays');
  if (retentionDays !== undefined && !Object.values(logs.RetentionDays).includes(retentionDays as logs.RetentionDays)) {
    problems.push(`logRetentionDays must be a CloudWatch Logs retention such as 1, 7, 30, 90, 365 (got ${retentionDays})`);
  }

  const props: AppConfig['props'] = {
    stage,
    eventBusName: str('eventBusName'),
    createEventBus: bool('createEventBus'),
    producerArns: list('producerArns'),
    operatorArns: list('operatorArns'),
    purgerArns: list('purgerArns'),
    description: `nango-metadata-sync (${stage}): domain events to Nango connection metadata`,
    sync: {
      secretId: str('secretId'),
      webhookSecretId: str('webhookSecretId'),
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
        timeout: secs('applyTimeoutSeconds'),
        memorySize: int('applyMemorySize'),
      },
      webhook: {
        reservedConcurrency: int('webhookReservedConcurrency'),
        timeout: secs('webhookTimeoutSeconds'),
        cloudFront: str('webhookWebAclArn') ? { webAclArn: str('webhookWebAclArn') } : bool('webhookCloudFront'),
      },
      reconcile: { schedule: schedule(), timeout: secs('reconcileTimeoutSeconds') },
      table: { deletionProtection: bool('tableDeletionProtection'), tableName: str('tableName') },
      ingressQueue: { maxReceiveCount: int('ingressMaxReceiveCount') },
      syncQueue: { maxReceiveCount: int('syncMaxReceiveCount'), deliveryDelay: secs('syncDeliveryDelaySeconds') },
    },
  };
  // Every function setting with a context key, at its prop (`apply.maxDefer`), in its prop's unit.
  const sync = props.sync as unknown as Record<string, Record<string, unknown>>;
  for (const k of SETTING_KEYS) {
    const value = settingValue(k);
    if (value === undefined) continue;
    const dot = k.prop.indexOf('.');
    if (dot < 0) (sync as Record<string, unknown>)[k.prop] = value;
    else (sync[k.prop.slice(0, dot)] ??= {})[k.prop.slice(dot + 1)] = value;
  }
  if (problems.length > 0) throw new Error(`invalid deployment configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { stackName: str('stackName') ?? `NangoMetadataSync-${stage}`, props };
}
