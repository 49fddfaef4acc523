/**
 * What a command runs with: its arguments and streams (tests call `run` with their own), and AWS clients
 * and DLQ holders made on first use and closed at the end (held messages visible again, no keep-alive
 * socket holding the CLI open). Everything printed passes through `scrub`.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { tryJson } from '#commons/json';
import { registerSecret } from '#commons/redact';
import { CliError, describeError, scrub } from '../errors.ts';
import type { ParsedArgs } from './args.ts';
import { Holder } from './read.ts';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Fires on Ctrl-C: commands stop starting new work and put back what they hold. */
  signal: AbortSignal;
  now?: () => Date;
}

export class Ctx {
  private readonly closing: (() => Promise<unknown> | unknown)[] = [];
  private sqsClient: SQSClient | undefined;

  constructor(
    readonly args: ParsedArgs,
    readonly io: Io,
  ) {}

  get endpoint(): string | undefined {
    return this.args.queues.endpoint ?? this.io.env.AWS_ENDPOINT_URL_SQS ?? this.io.env.AWS_ENDPOINT_URL;
  }

  private client<T extends { destroy(): void }>(c: T): T {
    this.closing.push(() => c.destroy());
    return c;
  }

  /** The SDK retries throttling and 5xx; a replay re-run covers anything beyond that. */
  get sqs(): SQSClient {
    const { region, endpoint } = this.args.queues;
    return (this.sqsClient ??= this.client(new SQSClient({ region, endpoint, maxAttempts: 5 })));
  }

  readonly cloudFormation = (): CloudFormationClient => this.client(new CloudFormationClient({ region: this.args.queues.region }));

  /** Holds what it reads until the command ends, then makes it visible again at once. */
  holder(renew = true): Holder {
    const { visibilitySeconds } = this.args.read;
    const h = new Holder(this.sqs, visibilitySeconds, this.endpoint);
    if (renew) h.startRenewing();
    this.closing.unshift(async () => {
      const stuck = await h.releaseAll();
      if (stuck) this.err(`note: ${stuck} message(s) could not be made visible at once; they reappear after ${visibilitySeconds}s.`);
    });
    return h;
  }

  async close(): Promise<void> {
    for (const c of this.closing) await c();
  }

  out = (text: string): void => void this.io.stdout.write(`${scrub(text)}\n`);
  err = (text: string): void => void this.io.stderr.write(`${scrub(text)}\n`);
  json = (value: unknown): void => this.out(JSON.stringify(value, null, 2));

  /**
   * The Nango key as configured (NANGO_SECRET_KEY, or Secrets Manager: bare or JSON {secretKey, host}), registered for scrubbing as
   * it is read: an older version could store an echoed Authorization header in an envelope. Undefined when none is configured; a
   * configured but empty secret is an empty key, which fails clearly when used. Not finding it stops only a dry run that `needs` it.
   */
  async nangoKey(needs = false): Promise<{ key: string; host?: string | undefined } | undefined> {
    const { env } = this.io;
    const found = (key: string, host?: unknown) => {
      registerSecret(key.trim());
      return { key: key.trim(), host: typeof host === 'string' ? host : undefined };
    };
    if (env.NANGO_SECRET_KEY) return found(env.NANGO_SECRET_KEY);
    const secretId = this.args.nango.secretId ?? env.NANGO_SECRET_ID;
    if (!secretId) return undefined;
    try {
      const secrets = this.client(new SecretsManagerClient({ region: this.args.queues.region }));
      const value = (await secrets.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString?.trim() ?? '';
      const j = value.startsWith('{') ? (tryJson(value) as { secretKey?: unknown; host?: unknown } | undefined) : undefined;
      return j ? found(typeof j.secretKey === 'string' ? j.secretKey : '', j.host) : found(value);
    } catch (e) {
      const err = describeError(e);
      const message = `reading the Nango key from Secrets Manager (${secretId}): ${scrub(err.message)}`;
      if (needs) throw new CliError(message, err.exitCode);
      this.err(`note: ${message}; printing without it (credentials after "Bearer" are still hidden).`);
      return undefined;
    }
  }
}
