/**
 * A Secrets Manager stand-in on 127.0.0.1 speaking awsJson1_1 (`X-Amz-Target:
 * secretsmanager.GetSecretValue`), enough for the AWS SDK v3 client and Powertools' SecretsProvider.
 * Secrets are found by name, full ARN or partial ARN (without the random suffix).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type http from 'node:http';
import { listenOnLoopback } from './loopback-server.ts';

export interface SecretsManagerStandin {
  url: string;
  close(): Promise<void>;
  /** Create or update a secret; an update gets a new VersionId. */
  setSecret(id: string, value: string): void;
  /** The ARN the stand-in gave a secret (name-XXXXXX suffix, like AWS). */
  arnOf(name: string): string | undefined;
  /** GetSecretValue calls received, throttled ones included. */
  calls(): number;
  /** Answer the next n GetSecretValue calls with ThrottlingException (400). */
  throttleNext(n: number): void;
}

interface Secret {
  name: string;
  arn: string;
  value: string;
  versionId: string;
  created: number;
}

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const suffix = () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  return Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join('');
};

export async function startSecretsManagerStandin(opts: { secrets: Record<string, string> }): Promise<SecretsManagerStandin> {
  const secrets = new Map<string, Secret>();
  let callCount = 0;
  let throttle = 0;

  const setSecret = (name: string, value: string) => {
    const existing = secrets.get(name);
    secrets.set(name, {
      name,
      arn: existing?.arn ?? `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${suffix()}`,
      value,
      versionId: randomUUID(),
      created: existing?.created ?? Date.now() / 1000,
    });
  };
  for (const [name, value] of Object.entries(opts.secrets)) setSecret(name, value);

  const find = (id: string): Secret | undefined => {
    const byName = secrets.get(id);
    if (byName) return byName;
    for (const s of secrets.values()) {
      // Full ARN, or the partial ARN AWS also accepts (no "-XXXXXX" suffix).
      if (s.arn === id || s.arn.slice(0, -7) === id) return s;
    }
    return undefined;
  };

  const send = (res: http.ServerResponse, status: number, body: unknown, errorType?: string) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': CONTENT_TYPE,
      'Content-Length': String(Buffer.byteLength(text)),
      'x-amzn-RequestId': randomUUID(),
      ...(errorType ? { 'x-amzn-ErrorType': errorType } : {}),
    });
    res.end(text);
  };
  const error = (res: http.ServerResponse, type: string, message: string) => send(res, 400, { __type: type, message }, type);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const target = String(req.headers['x-amz-target'] ?? '');
    if (req.method !== 'POST' || !target.startsWith('secretsmanager.')) {
      return error(res, 'UnknownOperationException', `Unsupported request ${req.method} ${target}`);
    }
    const operation = target.slice('secretsmanager.'.length);
    if (operation !== 'GetSecretValue')
      return error(res, 'UnknownOperationException', `Operation ${operation} is not supported by the stand-in`);
    callCount++;
    if (throttle > 0) {
      throttle--;
      return error(res, 'ThrottlingException', 'Rate exceeded');
    }
    let input: { SecretId?: unknown; VersionStage?: unknown };
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      return error(res, 'SerializationException', 'Malformed JSON');
    }
    if (typeof input.SecretId !== 'string' || input.SecretId === '') {
      return error(res, 'InvalidParameterException', 'SecretId is required');
    }
    const s = find(input.SecretId);
    if (!s) return error(res, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return send(res, 200, {
      ARN: s.arn,
      Name: s.name,
      VersionId: s.versionId,
      SecretString: s.value,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: s.created,
    });
  }

  const loopback = await listenOnLoopback((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  let closed = false;

  return {
    url: loopback.url,
    async close() {
      if (closed) return;
      closed = true;
      await loopback.close();
    },
    setSecret,
    arnOf: (name) => secrets.get(name)?.arn,
    calls: () => callCount,
    throttleNext(n) {
      throttle = n;
    },
  };
}
