/**
 * What every function does around its work, in one place, through Powertools' own Middy middlewares:
 * `injectLambdaContext` puts the Lambda context on each log line, and `logMetrics` flushes the
 * invocation's metrics as one EMF line even when the work throws. The dependencies are built once per
 * cold start, on the first invocation (after the context is on the logger), not at import: a cold
 * start imports only what the first event then uses.
 *
 * `logMetrics` flushes on every invocation and Powertools warns ("No application metrics to
 * publish") when nothing was recorded, so every path of every function records a metric (the
 * webhook counts the requests it rejects, a wrong path included; a function that cannot start
 * counts `StartFailures` and logs why, then throws, so the invocation fails as before).
 *
 * Middy's early timeout is off: each function already bounds its work by the context's remaining
 * time (`deadlineFrom`), and a timer per invocation would only add a second, blunter bound. Events
 * are never logged whole, whatever POWERTOOLS_LOGGER_LOG_EVENT says: they carry subject ids that the
 * logs only show as digests, and the webhook's signed bodies.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from '#powertools/logger';
import { MetricName, MetricUnit, metrics } from '#powertools/metrics';

export function lambdaHandler<E, R, D>(
  init: (context: Context) => D,
  run: (event: E, deps: D, context: Context) => Promise<R>,
): (event: E, context: Context) => Promise<R> {
  let deps: D | undefined;
  const start = (context: Context): D => {
    try {
      return init(context);
    } catch (e) {
      // Every invocation fails the same way until the deployment is fixed: one line says why.
      metrics.addMetric(MetricName.StartFailures, MetricUnit.Count, 1);
      logger.error('the function cannot start; every invocation fails until this is fixed', {
        // Bounded: a CloudWatch line holds 256 KB, and a start error may quote anything.
        error: String((e as Error)?.message ?? e).slice(0, 4096),
      });
      throw e;
    }
  };
  const handler = middy<E, R, Error, Context>(async (event: E, context: Context) => run(event, (deps ??= start(context)), context), {
    timeoutEarlyInMillis: 0,
  })
    .use(injectLambdaContext(logger, { logEvent: false }))
    .use(logMetrics(metrics));
  return (event, context) => handler(event, context);
}
