/**
 * Counts the AWS API requests this process makes, by service, action and (for SQS) queue, as billed.
 * The handlers' SDK clients are module singletons that take no middleware from outside, so the count
 * is taken one level down, at node:http's `request`, which the SDK's handler looks up once, at its
 * first request: install the counter before anything in the process calls AWS. Node's
 * `http.client.request.start` diagnostics channel would be cleaner but fires after the body is sent.
 */
import http from 'node:http';
import type { ClientRequest } from 'node:http';

export interface AwsCount {
  service: 'sqs' | 'dynamodb' | 'secretsmanager' | 'other';
  action: string;
  /** SQS: the queue's kind, from its URL. */
  queue?: 'standard' | 'fifo';
  /** SQS: the queue name, so a report can tell producer, event source and handler calls apart. */
  queueName?: string;
  /** DynamoDB: the consistency of a read. */
  consistent?: boolean;
  /** How many it counts for: a BatchGetItem is billed per item read, so it counts once per key asked. */
  items?: number;
}

export interface AwsCounter {
  counts(): Map<string, number>;
  reset(): void;
  stop(): void;
}

export const countKey = (c: AwsCount): string =>
  [c.service, c.action, c.queueName ?? '', c.consistent === undefined ? '' : c.consistent ? 'consistent' : 'eventual'].join('|');

export function parseKey(k: string): AwsCount & { queueName?: string } {
  const [service, action, queueName, consistency] = k.split('|');
  return {
    service: service as AwsCount['service'],
    action: action!,
    ...(queueName ? { queueName, queue: queueName.endsWith('.fifo') ? 'fifo' : 'standard' } : {}),
    ...(consistency ? { consistent: consistency === 'consistent' } : {}),
  };
}

function classify(target: string, body: string): AwsCount {
  const [prefix, action = '?'] = target.split('.');
  if (prefix === 'AmazonSQS') {
    const url = /"QueueUrl"\s*:\s*"([^"]+)"/.exec(body)?.[1];
    const queueName = url?.slice(url.lastIndexOf('/') + 1);
    // Apply's waits (settles; deadlines before) go to the ingress queue too: told from the producer's
    // events by their body, so the cost counts them as the handlers' requests.
    const wait = action.startsWith('SendMessage') ? /\\"reason\\":\\"(deadline|settle)\\"/.exec(body)?.[1] : undefined;
    return { service: 'sqs', action: wait ? `${action}(${wait})` : action, ...(queueName ? { queueName } : {}) };
  }
  if (prefix?.startsWith('DynamoDB')) {
    const pk = process.env.BENCH_AWS_DETAIL ? `:${/"pk":\{"S":"(\w)#/.exec(body)?.[1] ?? (/"Keys"/.test(body) ? 'batch' : '?')}` : '';
    const items = action === 'BatchGetItem' ? { items: (body.match(/"pk":\{"S":/g) ?? []).length } : {};
    return { service: 'dynamodb', action: action + pk, consistent: /"ConsistentRead"\s*:\s*true/.test(body), ...items };
  }
  if (prefix === 'secretsmanager') return { service: 'secretsmanager', action };
  return { service: 'other', action: target };
}

export function countAwsRequests(): AwsCounter {
  const counts = new Map<string, number>();
  const original = http.request;
  let on = true;
  const wrapped = ((...args: Parameters<typeof http.request>) => {
    const req = original(...args);
    const target = req.getHeader('x-amz-target');
    if (typeof target !== 'string') return req;
    // The SDK sends the body with end(); read it there (the JSON protocol names the queue), then let it through.
    const end = req.end.bind(req) as (...a: unknown[]) => ClientRequest;
    (req as unknown as { end: (...a: unknown[]) => ClientRequest }).end = (...a: unknown[]) => {
      const chunk = a[0];
      const body = typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : '';
      if (on) {
        const c = classify(target, body);
        const k = countKey(c);
        counts.set(k, (counts.get(k) ?? 0) + (c.items ?? 1));
        if (process.env.BENCH_AWS_DETAIL && target.endsWith('SendMessageBatch')) {
          for (const m of body.matchAll(/\\"reason\\":\\"(\w+)\\"/g)) {
            const e = `entries|${m[1]}|${/"QueueUrl"\s*:\s*"[^"]*\/([^"]+)"/.exec(body)?.[1]}`;
            counts.set(e, (counts.get(e) ?? 0) + 1);
          }
        }
      }
      return end(...a);
    };
    return req;
  }) as typeof http.request;
  http.request = wrapped;
  return {
    counts: () => new Map(counts),
    reset: () => counts.clear(),
    stop: () => {
      on = false;
    },
  };
}
