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
    // Apply's deferral deadlines go to the ingress queue too: told from the producer's events by their body.
    const deadline = action.startsWith('SendMessage') && /\\"reason\\":\\"deadline\\"/.test(body);
    return { service: 'sqs', action: deadline ? `${action}(deadline)` : action, ...(queueName ? { queueName } : {}) };
  }
  if (prefix?.startsWith('DynamoDB')) return { service: 'dynamodb', action, consistent: /"ConsistentRead"\s*:\s*true/.test(body) };
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
        const k = countKey(classify(target, body));
        counts.set(k, (counts.get(k) ?? 0) + 1);
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
