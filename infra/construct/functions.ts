/**
 * One way to build a function: nodejs24.x/arm64, its code bundled locally by esbuild as split ESM
 * (function-code.ts), with its own role (no managed policies) and its own retained log group. The
 * environment is built from the functions' configuration module: exactly the variables a function
 * reads, by their names.
 */
import { fileURLToPath } from 'node:url';
import { type Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { FUNCTION_SETTINGS, type FunctionName, type SettingName } from '#commons/config';
import { ENTRY_FILE } from './bundling.ts';
import { generatedEntry } from './catalog-module.ts';
import { functionCode } from './function-code.ts';
import type { Resolved } from './validate-props.ts';

/** The package's own root (its sources in this repository, its installed copy for a user): never a bundling root. */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export { ESM_BANNER } from './bundling.ts';

/** Key material is never put in a function's environment: functions read it from Secrets Manager. */
const NEVER_SET: ReadonlySet<SettingName> = new Set(['NANGO_SECRET_KEY', 'WEBHOOK_SIGNING_KEY']);

/**
 * The variables `fn` reads (FUNCTION_SETTINGS) that have a value here; anything else in `values` is
 * ignored, so one shared map serves every function. Keyed by plain strings so a value may be offered
 * for a variable a function does not read (yet).
 */
export function functionEnvironment(fn: FunctionName, values: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of FUNCTION_SETTINGS[fn] as readonly SettingName[]) {
    const value = values[name];
    if (value !== undefined && !NEVER_SET.has(name)) env[name] = value;
  }
  return env;
}

export interface NodeFunctionOptions {
  /** Construct id prefix: `<name>`, `<name>Role`, `<name>Logs`. */
  readonly name: string;
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
  /** How the function is invoked, for the acknowledgment of an async-invocation DLQ it does not need. */
  readonly noAsyncDlqReason: string;
  readonly reservedConcurrentExecutions?: number;
}

export function nodeFunction(scope: Construct, cfg: Resolved, o: NodeFunctionOptions): lambda.Function {
  // Own role without AWSLambdaBasicExecutionRole: logs are granted on this function's log group only.
  const role = new iam.Role(scope, `${o.name}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `${o.name} function of nango-metadata-sync`,
  });
  const logGroup = new logs.LogGroup(scope, `${o.name}Logs`, { retention: cfg.logRetention });
  logGroup.grantWrite(role);
  const f = new lambda.Function(scope, o.name, {
    code: functionCode(o.entry, cfg.projectRoot, cfg.bundling),
    handler: `${ENTRY_FILE.replace(/\.mjs$/, '')}.handler`,
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    description: o.description,
    role,
    logGroup,
    tracing: cfg.tracing,
    timeout: o.timeout,
    memorySize: o.memorySize,
    reservedConcurrentExecutions: o.reservedConcurrentExecutions,
    environment: {
      ...o.environment,
      POWERTOOLS_SERVICE_NAME: cfg.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: cfg.metricsNamespace,
      POWERTOOLS_LOG_LEVEL: cfg.logLevel,
      NODE_OPTIONS: '--enable-source-maps',
    },
  });
  Validations.of(f).acknowledge({ id: 'Serverless-LambdaDLQ', reason: o.noAsyncDlqReason });
  const runtimeReason =
    'nodejs24.x is the runtime the test suite runs on (Node 24 in CI); a newer runtime is adopted with its own test run, not by a lint.';
  Validations.of(f).acknowledge(
    { id: 'AwsSolutions-L1', reason: runtimeReason },
    { id: 'Serverless-LambdaLatestVersion', reason: runtimeReason },
  );
  if (cfg.tracing === lambda.Tracing.ACTIVE) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions.',
    });
  } else {
    Validations.of(f).acknowledge({
      id: 'Serverless-LambdaTracing',
      reason:
        'X-Ray is off unless the deployer sets the `tracing` prop: with no tracer in the code a trace only repeats the logs and EMF metrics.',
    });
  }
  return f;
}

/** The entry of a function: generated, the runtime's `create<Fn>Handler` over the catalog module. */
export const entryOf = (cfg: Resolved, fn: FunctionName): string => generatedEntry(cfg.projectRoot, fn, cfg.catalogModule, cfg.catalog);

/** SQS event sources cannot have an on-failure destination: their failures go through the queue's redrive. */
export function acknowledgeEventSources(f: lambda.IFunction): void {
  for (const child of f.node.children) {
    if (child instanceof lambda.EventSourceMapping) {
      Validations.of(child).acknowledge({
        id: 'Serverless-LambdaEventSourceMappingDestination',
        reason:
          'SQS event source mappings do not support on-failure destinations; failed records return to the queue and its redrive policy moves them to the DLQ.',
      });
    }
  }
}
