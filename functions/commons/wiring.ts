/**
 * Builds the adapters from configuration, once per cold start. Handlers stay thin: they turn the
 * Lambda event into records, call a processor with these dependencies, and shape the response.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { MetricName, MetricUnit, metrics } from '#powertools/metrics';
import { HttpNangoClient } from './nango/http-client.ts';
import { RateLimitGate } from './nango/rate-limit.ts';
import { keyProviderFromConfig } from './secrets.ts';
import { SqsQueues } from './queues.ts';
import type { NangoConfig } from './config.ts';
import { AWS_REQUEST_HANDLER } from './aws-request.ts';
import { DynamoStateStore } from './state/dynamodb.ts';

let sqs: SQSClient | undefined;
export const sqsClient = (): SQSClient => (sqs ??= new SQSClient({ requestHandler: AWS_REQUEST_HANDLER }));

export function nangoFromConfig(c: NangoConfig): HttpNangoClient {
  return new HttpNangoClient({
    host: c.NANGO_HOST,
    endpoint: c.NANGO_ENDPOINT,
    keys: keyProviderFromConfig(c),
    timeoutMs: c.NANGO_TIMEOUT_MS,
    gate: new RateLimitGate(c.NANGO_RATE_LIMIT_WINDOW_MS),
    onResponse: ({ ms }) => metrics.addMetric(MetricName.NangoLatency, MetricUnit.Milliseconds, ms),
  });
}

export const queuesFromConfig = (): SqsQueues => new SqsQueues(sqsClient());

let dynamo: DynamoDBClient | undefined;
export const dynamoClient = (): DynamoDBClient => (dynamo ??= new DynamoDBClient({ requestHandler: AWS_REQUEST_HANDLER }));
export const stateFromConfig = (c: { STATE_TABLE_NAME: string; MAX_CONNECTIONS_PER_SUBJECT?: number }): DynamoStateStore =>
  new DynamoStateStore(dynamoClient(), c.STATE_TABLE_NAME, c.MAX_CONNECTIONS_PER_SUBJECT);

/**
 * The time this invocation may spend on work: what Lambda gives, less a margin to write DLQ
 * envelopes and return before the timeout kills the batch.
 */
export function deadlineFrom(context: Pick<Context, 'getRemainingTimeInMillis'>): number {
  const remaining = context.getRemainingTimeInMillis();
  const margin = Math.min(5_000, Math.max(1_000, remaining * 0.1));
  return Date.now() + Math.max(0, remaining - margin);
}
