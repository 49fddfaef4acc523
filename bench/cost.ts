/**
 * AWS requests per event and the cost per million events, from the requests counted in a drain and
 * the Lambda time measured there. Pure.
 *
 * Prices: AWS's published on-demand list prices, us-east-1, as of 2026-11-27 (DynamoDB's on-demand
 * prices are those after the 1 Nov 2024 cut). Free tiers ignored.
 */
import { parseKey } from './aws-requests.ts';

export const PRICES = {
  region: 'us-east-1',
  asOf: '2026-11-27',
  sqsStandardPerM: 0.4,
  sqsFifoPerM: 0.5,
  dynamoWritePerMWru: 0.625,
  dynamoReadPerMRru: 0.125,
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMRequests: 0.2,
  secretsManagerPer10k: 0.05,
  eventBridgePerMEvents: 1.0,
  apiDestinationPerMInvocations: 0.2,
} as const;

/** One function's measured invocations and time, at the memory it is deployed with. */
export interface LambdaUse {
  name?: string;
  invocations: number;
  durationMs: number;
  /** GB configured; `awsUse`'s default when absent. */
  memoryGb?: number;
}

/**
 * Lambda's pollers keep long-polling a queue with no messages: by default 5 per standard queue, each a
 * ReceiveMessage of 20 s. That is a fixed cost per queue and month, whatever the traffic, so the bench
 * reports it apart and leaves the empty receives of idle pollers out of the cost per event. (AWS does
 * not state a FIFO queue's idle pollers; the same 5 are assumed.)
 */
export const IDLE_POLLERS_PER_QUEUE = 5;
const SECONDS_PER_MONTH = 30 * 24 * 3600;
export const idleReceivesPerQueueMonth = (IDLE_POLLERS_PER_QUEUE * SECONDS_PER_MONTH) / 20;
export const idleUsdPerQueueMonth = (fifo: boolean) =>
  (idleReceivesPerQueueMonth * (fifo ? PRICES.sqsFifoPerM : PRICES.sqsStandardPerM)) / 1e6;

export interface AwsUse {
  /** Requests by who makes them, per event. */
  perEvent: {
    producer: number;
    eventSource: number;
    handlersSqs: number;
    dynamoWrites: number;
    dynamoReads: number;
    secrets: number;
    harness: number;
    /** Empty receives of idle pollers (left out of the cost: see idleUsdPerQueueMonth). */
    idle: number;
  };
  /** US dollars per million events, by line. */
  costPerM: { sqs: number; dynamodb: number; lambda: number; secretsManager: number; total: number };
  /** The same lines split by who pays them (US dollars per million events). */
  split: {
    sqs: { producer: number; eventSource: number; handlers: number };
    dynamodb: { writes: number; reads: number };
    /** Per function (by name, or its position), requests and GB-s together. */
    lambda: Record<string, number>;
  };
  /** Lambda GB-s per event, all functions. */
  gbSecondsPerEvent: number;
  /** The same pipeline fed through an EventBridge bus (PutEvents, then one SQS delivery per event) instead of SendMessageBatch. */
  totalViaEventBridgePerM: number;
}

export function awsUse(
  counts: Record<string, number>,
  events: number,
  lambda: readonly LambdaUse[],
  memoryGb: number,
  ingressQueueName: string,
  /** Empty receives of idle pollers, by queue name (the event source counts them). */
  idleReceives: Readonly<Record<string, number>> = {},
): AwsUse {
  const per = { producer: 0, eventSource: 0, handlersSqs: 0, dynamoWrites: 0, dynamoReads: 0, secrets: 0, harness: 0, idle: 0 };
  const sqsUsd = { producer: 0, eventSource: 0, handlers: 0 };
  const dynamoUsd = { writes: 0, reads: 0 };
  for (const [k, counted] of Object.entries(counts)) {
    let n = counted;
    const c = parseKey(k);
    if (c.service === 'sqs') {
      // The harness polls queue depth to know when the drain ended; nothing deployed does.
      if (c.action === 'GetQueueAttributes' || c.action === 'GetQueueUrl') {
        per.harness += n;
        continue;
      }
      if (c.action === 'ReceiveMessage' && c.queueName) {
        const idle = Math.min(n, idleReceives[c.queueName] ?? 0);
        per.idle += idle;
        n -= idle;
      }
      const usd = (n * (c.queue === 'fifo' ? PRICES.sqsFifoPerM : PRICES.sqsStandardPerM)) / 1e6;
      if (c.action === 'SendMessageBatch' && c.queueName === ingressQueueName) {
        per.producer += n;
        sqsUsd.producer += usd;
      } else if (c.action === 'ReceiveMessage' || c.action === 'DeleteMessageBatch') {
        per.eventSource += n;
        sqsUsd.eventSource += usd;
      } else {
        per.handlersSqs += n;
        sqsUsd.handlers += usd;
      }
    } else if (c.service === 'dynamodb') {
      // Every item here is under 1 KB (one WRU) and every read returns under 4 KB (one RRU consistent, half eventual).
      if (['PutItem', 'UpdateItem', 'DeleteItem'].includes(c.action)) {
        per.dynamoWrites += n;
        dynamoUsd.writes += (n * PRICES.dynamoWritePerMWru) / 1e6;
      } else {
        per.dynamoReads += n;
        dynamoUsd.reads += (n * (c.consistent ? 1 : 0.5) * PRICES.dynamoReadPerMRru) / 1e6;
      }
    } else if (c.service === 'secretsmanager') {
      per.secrets += n;
    } else per.harness += n;
  }
  const scale = 1e6 / events;
  const lambdaSplit: Record<string, number> = {};
  let gbSeconds = 0;
  for (const [i, l] of lambda.entries()) {
    const gbs = (l.durationMs / 1000) * (l.memoryGb ?? memoryGb);
    gbSeconds += gbs;
    lambdaSplit[l.name ?? String(i)] = (gbs * PRICES.lambdaArmPerGbSecond + (l.invocations * PRICES.lambdaPerMRequests) / 1e6) * scale;
  }
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const secretsUsd = (per.secrets * PRICES.secretsManagerPer10k) / 1e4;
  const costPerM = {
    sqs: sum(sqsUsd) * scale,
    dynamodb: sum(dynamoUsd) * scale,
    lambda: sum(lambdaSplit),
    secretsManager: secretsUsd * scale,
    total: 0,
  };
  costPerM.total = costPerM.sqs + costPerM.dynamodb + costPerM.lambda + costPerM.secretsManager;
  const viaBus = costPerM.total - sqsUsd.producer * scale + PRICES.eventBridgePerMEvents + PRICES.sqsStandardPerM;
  const perEvent = Object.fromEntries(Object.entries(per).map(([k, v]) => [k, v / events])) as AwsUse['perEvent'];
  const scaled = <T extends Record<string, number>>(o: T) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v * scale])) as T;
  return {
    perEvent,
    costPerM,
    split: { sqs: scaled(sqsUsd), dynamodb: scaled(dynamoUsd), lambda: lambdaSplit },
    gbSecondsPerEvent: gbSeconds / events,
    totalViaEventBridgePerM: viaBus,
  };
}

/** The API destination model: one PutEvents entry per event, one invocation per event and connection. */
export function apiDestinationCostPerM(pairsPerEvent: number): number {
  return PRICES.eventBridgePerMEvents + pairsPerEvent * PRICES.apiDestinationPerMInvocations;
}
