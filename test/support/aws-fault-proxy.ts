/**
 * A fault-injecting HTTP proxy in front of a local AWS JSON-protocol service (fauxqs for SQS, dynalite
 * for DynamoDB), on 127.0.0.1: every request is forwarded as it came, unless the hook answers it with
 * an AWS error first. Point a client at it with `endpoint` (an SQSClient then keeps the endpoint
 * instead of the QueueUrl's host) and `maxAttempts: 1` (so the SDK's own retry does not hide the fault).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AwsCall {
  /** `SendMessageBatch`, `UpdateItem`, ... from the `x-amz-target` header. */
  action: string;
  body: Record<string, unknown>;
}

/** An answer in place of the service's: status and the error's `__type` name. */
export type AwsFault = { status: number; type: string; message: string } | undefined;

export interface AwsFaultProxy {
  endpoint: string;
  calls: AwsCall[];
  close(): Promise<void>;
}

/** The namespace of each service's error types, by its `x-amz-target` prefix. */
const ERROR_NAMESPACES: Record<string, string> = { AmazonSQS: 'com.amazonaws.sqs', DynamoDB_20120810: 'com.amazonaws.dynamodb.v20120810' };

export async function startAwsFaultProxy(target: string, hook: (call: AwsCall) => AwsFault): Promise<AwsFaultProxy> {
  const to = new URL(target);
  const calls: AwsCall[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const [service = '', action = ''] = String(req.headers['x-amz-target'] ?? '').split('.');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        // not JSON: forwarded as it is
      }
      const call = { action, body };
      calls.push(call);
      const fault = hook(call);
      if (fault) {
        res.writeHead(fault.status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'fault' });
        res.end(JSON.stringify({ __type: `${ERROR_NAMESPACES[service] ?? service}#${fault.type}`, message: fault.message }));
        return;
      }
      const fwd = http.request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      fwd.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      fwd.end(raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
