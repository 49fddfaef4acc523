/**
 * Builds the adapters from configuration, once per cold start. Handlers stay thin: they turn the
 * Lambda event into records, call a processor with these dependencies, and shape the response.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { lazyNango } from './nango/lazy.ts';
import type { NangoPort } from './nango/port.ts';
import { SqsQueues } from './queues.ts';
import type { NangoConfig } from './config.ts';
import { AWS_REQUEST_HANDLER } from './aws-request.ts';
import { DynamoStateStore } from './state/dynamodb.ts';

let sqs: SQSClient | undefined;
export const sqsClient = (): SQSClient => (sqs ??= new SQSClient({ requestHandler: AWS_REQUEST_HANDLER }));

/**
 * The Nango client, imported on its first call (a dynamic import keeps undici out of the module's
 * start-up in the bundle too). Functions that call Nango on every invocation import
 * `nango/from-config.ts` directly.
 */
export const lazyNangoFromConfig = (c: NangoConfig): NangoPort =>
  lazyNango(async () => (await import('./nango/from-config.ts')).nangoFromConfig(c));

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
