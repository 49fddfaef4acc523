/**
 * Props with every default filled in, checked up front: all problems are collected and reported in
 * one error naming each prop. Ranges of function settings come from the functions' own schemas.
 */
import { dirname } from 'node:path';
import { Duration, Token } from 'aws-cdk-lib';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { type Catalog, indexCatalog } from '#events/define';
import { SETTINGS } from '#commons/config';
import { catalogEventPattern } from '../event-pattern.ts';
import { findLockFile, loadCatalog, resolveCatalogModule } from './catalog-module.ts';
import { bundlingProblem } from './function-code.ts';
import { Checks, isEmail, isHttpUrl, SECRET_ARN_RE, SECRET_NAME_RE } from '../validate.ts';
import { DEFAULTS, LOG_LEVELS, type LogLevel, NANGO_ENDPOINTS, type NangoMetadataSyncProps, SWEEP_QUEUE_RETENTION } from './props.ts';
import { checkSettingProps, topLevelSettings } from './settings.ts';

/** Setting props with a check of their own below; every other setting prop is checked by its schema. */
const OWN_CHECKS: ReadonlySet<string> = new Set(['nangoHost', 'nangoEndpoint', 'nangoTimeout']);

/** PutRule's limit on EventPattern. */
const MAX_EVENT_PATTERN_LENGTH = 4096;
const SCHEDULE_RE = /^(rate|cron)\(.+\)$/;

const secondsUp = (d: Duration) => Math.ceil(d.toMilliseconds() / 1000);

/**
 * `catalog` is the catalog module's export when the caller loaded it already; otherwise the module
 * is loaded here (bundled and evaluated, as the functions will run it).
 */
export function resolveProps(props: NangoMetadataSyncProps, catalog?: Catalog) {
  const d = DEFAULTS;
  if (!props.catalog?.path)
    throw new Error('catalog is required: { path: <your catalog module>, exportName?: <its export, default "catalog"> }');
  const catalogModule = resolveCatalogModule(props.catalog);
  const lockFile = props.depsLockFilePath ?? findLockFile(props.projectRoot ? `${props.projectRoot}/.` : catalogModule.path);
  if (!lockFile)
    throw new Error(
      `no lock file (package-lock.json, pnpm-lock.yaml, yarn.lock, bun.lock) above ${catalogModule.path}: set depsLockFilePath`,
    );
  const route = { ...d.route, ...defined(props.route) };
  const apply = { ...d.apply, ...defined(props.apply) };
  const webhook = { ...d.webhook, ...defined(props.webhook) };
  const reconcile = { ...d.reconcile, ...defined(props.reconcile) };
  // Lambda's guidance: visibility >= 6x the function timeout (+ the batching window), so a retried
  // batch is not delivered again while the first attempt still runs.
  const minIngressVisibility = secondsUp(route.timeout) * 6 + secondsUp(route.maxBatchingWindow);
  const minSyncVisibility = secondsUp(apply.timeout) * 6;
  const queue = (o: NangoMetadataSyncProps['ingressQueue'], minVisibility: number, deliveryDelay: Duration) => ({
    retentionPeriod: o?.retentionPeriod ?? d.queue.retentionPeriod,
    visibilityTimeout: o?.visibilityTimeout ?? Duration.seconds(minVisibility),
    maxReceiveCount: o?.maxReceiveCount ?? d.queue.maxReceiveCount,
    deliveryDelay: o?.deliveryDelay ?? deliveryDelay,
  });
  const resolved = {
    // nangoHost, nangoTimeout and every other top-level prop behind a function setting.
    ...topLevelSettings(props),
    catalog: catalog ?? loadCatalog(catalogModule),
    catalogModule,
    depsLockFilePath: lockFile,
    projectRoot: props.projectRoot ?? dirname(lockFile),
    rule: { ...d.rule, ...defined(props.rule) },
    route,
    apply,
    webhook,
    reconcile,
    ingress: queue(props.ingressQueue, minIngressVisibility, d.ingressDeliveryDelay),
    sync: queue(props.syncQueue, minSyncVisibility, d.syncDeliveryDelay),
    dlqRetention: props.dlqRetentionPeriod ?? d.dlqRetentionPeriod,
    table: { ...d.table, ...defined(props.table) } as { deletionProtection: boolean; tableName?: string },
    logRetention: (props.logRetention ?? d.logRetention) as logs.RetentionDays,
    logLevel: (props.logLevel ?? d.logLevel) as LogLevel,
    webhookCloudFront:
      webhook.cloudFront === false
        ? undefined
        : { ...d.webhookCloudFront, ...(webhook.cloudFront === true ? {} : defined(webhook.cloudFront)) },
    serviceName: props.serviceName ?? d.serviceName,
    metricsNamespace: props.metricsNamespace ?? d.metricsNamespace,
    tracing: (props.tracing ?? d.tracing) as lambda.Tracing,
    alarmEmail: props.alarms?.email,
    alarms: { ...d.alarms, ...defined(props.alarms) },
    dashboardName: props.dashboardName,
    bundling: (props.bundling ?? {}) as BundlingOptions,
  };

  const c = new Checks();
  checkSettingProps(c, resolved, OWN_CHECKS);
  const secs = (x: Duration) => (x.isUnresolved() ? 0 : x.toMilliseconds() / 1000);

  const badBundling = bundlingProblem(resolved.bundling);
  if (badBundling) c.fail(badBundling);
  if (!Token.isUnresolved(resolved.nangoHost) && !isHttpUrl(resolved.nangoHost)) {
    c.fail(`nangoHost must be an http(s) URL without credentials (got "${resolved.nangoHost}")`);
  }
  if (!NANGO_ENDPOINTS.includes(resolved.nangoEndpoint)) {
    c.fail(`nangoEndpoint must be one of ${NANGO_ENDPOINTS.join(', ')} (got "${String(resolved.nangoEndpoint)}")`);
  }
  for (const [pair, id] of [
    [['secret', 'secretId'], props.secretId],
    [['webhookSecret', 'webhookSecretId'], props.webhookSecretId],
  ] as const) {
    c.exclusive([...pair], [pair[0] === 'secret' ? props.secret : props.webhookSecret, id]);
    if (id !== undefined && !Token.isUnresolved(id) && !SECRET_NAME_RE.test(id) && !SECRET_ARN_RE.test(id)) {
      c.fail(`${pair[1]} must be a Secrets Manager secret name or ARN (got "${id}")`);
    }
  }
  if (!resolved.nangoTimeout.isUnresolved()) {
    if (resolved.nangoTimeout.toMilliseconds() < 100) {
      c.fail(`nangoTimeout must be at least 100 milliseconds (got ${resolved.nangoTimeout.toHumanString()})`);
    } else {
      const parsed = SETTINGS.NANGO_TIMEOUT_MS.schema.safeParse(resolved.nangoTimeout.toMilliseconds());
      if (!parsed.success) c.fail(`nangoTimeout (NANGO_TIMEOUT_MS) is invalid: ${parsed.error.issues[0]?.message ?? 'rejected'}`);
    }
    for (const [name, fnTimeout] of [
      ['route', route.timeout],
      ['apply', apply.timeout],
      ['reconcile', reconcile.timeout],
    ] as const) {
      if (!fnTimeout.isUnresolved() && resolved.nangoTimeout.toMilliseconds() >= fnTimeout.toMilliseconds()) {
        c.fail(
          `nangoTimeout (${resolved.nangoTimeout.toHumanString()}) must be shorter than ${name}.timeout (${fnTimeout.toHumanString()})`,
        );
      }
    }
  }

  try {
    if (resolved.catalog.length === 0) c.fail('catalog must hold at least one event type');
    else {
      indexCatalog(resolved.catalog);
      const size = JSON.stringify(catalogEventPattern(resolved.catalog)).length;
      if (size > MAX_EVENT_PATTERN_LENGTH) {
        c.fail(
          `catalog: the rule pattern would be ${size} characters, over EventBridge's ${MAX_EVENT_PATTERN_LENGTH}; split the catalog over several constructs`,
        );
      }
    }
  } catch (e) {
    c.fail(`catalog: ${(e as Error).message}`);
  }

  c.int('rule.retryAttempts', resolved.rule.retryAttempts, 0, 185);
  c.seconds('rule.maxEventAge', resolved.rule.maxEventAge, 60, 86_400);

  for (const [name, o] of Object.entries({ route, apply, webhook, reconcile })) {
    c.seconds(`${name}.timeout`, o.timeout, 1, 900);
    c.int(`${name}.memorySize`, o.memorySize, 128, 10_240);
  }
  c.int('route.batchSize', route.batchSize, 1, 10_000);
  c.seconds('route.maxBatchingWindow', route.maxBatchingWindow, 0, 300);
  if (route.batchSize > 10 && route.maxBatchingWindow.toMilliseconds() < 1000) {
    // Lambda's own rule; the default window is 0, so raising the batch alone lands here.
    c.fail(
      `route.maxBatchingWindow must be at least 1 second when route.batchSize is above 10 (got batchSize ${route.batchSize}, window ${route.maxBatchingWindow.toMilliseconds() / 1000} s): set both`,
    );
  }
  c.int('route.maxConcurrency', route.maxConcurrency, 2, 1000);
  c.int('apply.batchSize', apply.batchSize, 1, 10);
  c.int('apply.maxConcurrency', apply.maxConcurrency, 2, 1000);
  c.int('webhook.reservedConcurrency', webhook.reservedConcurrency, 1, 1000);
  if (resolved.webhookCloudFront) {
    c.int('webhook.cloudFront.rateLimitPer5Minutes', resolved.webhookCloudFront.rateLimitPer5Minutes, 10, 2_000_000_000);
  }
  if (!webhook.timeout.isUnresolved() && secs(webhook.timeout) >= 20) {
    c.fail(`webhook.timeout must be under Nango's 20 second webhook timeout (got ${webhook.timeout.toHumanString()})`);
  }
  const schedule = reconcile.schedule;
  if (schedule !== false && (typeof schedule !== 'string' || (!Token.isUnresolved(schedule) && !SCHEDULE_RE.test(schedule)))) {
    c.fail(`reconcile.schedule must be an EventBridge rate(...) or cron(...) expression, or false (got ${JSON.stringify(schedule)})`);
  }

  const queues = [
    ['ingressQueue', resolved.ingress, minIngressVisibility, 'route.timeout x 6 + route.maxBatchingWindow'],
    ['syncQueue', resolved.sync, minSyncVisibility, 'apply.timeout x 6'],
  ] as const;
  for (const [name, q, minVisibility, rule] of queues) {
    c.seconds(`${name}.retentionPeriod`, q.retentionPeriod, 60, 1_209_600);
    c.seconds(`${name}.visibilityTimeout`, q.visibilityTimeout, 0, 43_200);
    c.int(`${name}.maxReceiveCount`, q.maxReceiveCount, 1, 1000);
    c.seconds(`${name}.deliveryDelay`, q.deliveryDelay, 0, 900);
    if (!q.visibilityTimeout.isUnresolved() && q.visibilityTimeout.toMilliseconds() < minVisibility * 1000) {
      c.fail(`${name}.visibilityTimeout must be at least ${rule} = ${minVisibility} seconds (got ${q.visibilityTimeout.toHumanString()})`);
    }
    if (!q.retentionPeriod.isUnresolved() && !resolved.dlqRetention.isUnresolved()) {
      if (resolved.dlqRetention.toMilliseconds() <= q.retentionPeriod.toMilliseconds()) {
        c.fail(
          `dlqRetentionPeriod (${resolved.dlqRetention.toHumanString()}) must be longer than ${name}.retentionPeriod (${q.retentionPeriod.toHumanString()}): SQS keeps a standard message's first enqueue time when it moves it`,
        );
      }
    }
  }
  if (!resolved.dlqRetention.isUnresolved() && resolved.dlqRetention.toMilliseconds() <= SWEEP_QUEUE_RETENTION.toMilliseconds()) {
    c.fail(
      `dlqRetentionPeriod (${resolved.dlqRetention.toHumanString()}) must be longer than the sweep queue's retention (${SWEEP_QUEUE_RETENTION.toHumanString()}): its DLQ shares the setting`,
    );
  }
  c.seconds('dlqRetentionPeriod', resolved.dlqRetention, 60, 1_209_600);
  if (resolved.table.tableName !== undefined && !Token.isUnresolved(resolved.table.tableName)) {
    if (!/^[A-Za-z0-9_.-]{3,255}$/.test(resolved.table.tableName)) {
      c.fail(`table.tableName must be 3-255 letters, digits, '_', '.' or '-' (got "${resolved.table.tableName}")`);
    }
  }

  if (!LOG_LEVELS.includes(resolved.logLevel)) {
    c.fail(`logLevel must be one of ${LOG_LEVELS.join(', ')} (got "${String(resolved.logLevel)}")`);
  }
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(resolved.serviceName)) {
    c.fail(`serviceName must be 1-100 letters, digits, '.', '_' or '-' (got "${resolved.serviceName}")`);
  }
  if (!/^[A-Za-z0-9.\-_/#:]{1,255}$/.test(resolved.metricsNamespace) || resolved.metricsNamespace.startsWith('AWS/')) {
    c.fail(`metricsNamespace must be a CloudWatch namespace not starting with "AWS/" (got "${resolved.metricsNamespace}")`);
  }
  c.exclusive(['alarms.email', 'alarms.topic'], [props.alarms?.email, props.alarms?.topic]);
  if (resolved.alarmEmail !== undefined && !Token.isUnresolved(resolved.alarmEmail) && !isEmail(resolved.alarmEmail)) {
    c.fail(`alarms.email must be an e-mail address (got "${resolved.alarmEmail}")`);
  }
  c.seconds('alarms.ingressOldestMessageAge', resolved.alarms.ingressOldestMessageAge, 60, 1_209_600);
  c.seconds('alarms.syncOldestMessageAge', resolved.alarms.syncOldestMessageAge, 60, 1_209_600);
  c.seconds('alarms.dlqOldestMessageAge', resolved.alarms.dlqOldestMessageAge, 60, 1_209_600);
  c.int('alarms.webhookUrl4xxPer5Minutes', resolved.alarms.webhookUrl4xxPer5Minutes, 1, 1_000_000);
  c.int('alarms.webhookUrl5xxPer5Minutes', resolved.alarms.webhookUrl5xxPer5Minutes, 1, 1_000_000);
  c.int('alarms.webhookSignatureRejectedPer5Minutes', resolved.alarms.webhookSignatureRejectedPer5Minutes, 1, 1_000_000);
  if (secs(resolved.alarms.dlqOldestMessageAge) >= secs(resolved.dlqRetention) && !resolved.dlqRetention.isUnresolved()) {
    c.fail(
      `alarms.dlqOldestMessageAge (${resolved.alarms.dlqOldestMessageAge.toHumanString()}) must be shorter than dlqRetentionPeriod (${resolved.dlqRetention.toHumanString()}): it warns before messages expire`,
    );
  }
  if (resolved.dashboardName !== undefined && !/^[A-Za-z0-9_-]{1,255}$/.test(resolved.dashboardName)) {
    c.fail(`dashboardName must be 1-255 letters, digits, '_' or '-' (got "${resolved.dashboardName}")`);
  }
  c.throwIfAny();
  return resolved;
}

export type Resolved = ReturnType<typeof resolveProps>;

/** A props object without its `undefined` members, so spreading it over defaults keeps the defaults. */
function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
