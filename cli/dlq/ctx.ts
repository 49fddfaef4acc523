/** What a command runs with; tests call `run` with their own streams and environment. */
import { createInterface } from 'node:readline/promises';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { scrub } from '../errors.ts';
import type { ParsedArgs } from './args.ts';
import { Holder, readNangoKey } from './read.ts';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Fires on Ctrl-C: commands stop starting new work and put back what they hold. */
  signal: AbortSignal;
  now?: () => Date;
}

/**
 * What a command runs with: its arguments, streams and clock, and AWS clients and DLQ holders
 * created on first use and closed at the end (held messages visible again, no keep-alive socket
 * holding the CLI open). Everything printed passes through `scrub`.
 */
export class Ctx {
  private readonly closing: (() => Promise<unknown> | unknown)[] = [];
  private sqsClient: SQSClient | undefined;
  private secretsClient: SecretsManagerClient | undefined;

  constructor(
    readonly args: ParsedArgs,
    readonly io: Io,
  ) {}

  get now(): Date {
    return this.io.now?.() ?? new Date();
  }

  get endpoint(): string | undefined {
    return this.args.queues.endpoint ?? this.io.env.AWS_ENDPOINT_URL_SQS ?? this.io.env.AWS_ENDPOINT_URL;
  }

  private client<T extends { destroy(): void }>(c: T): T {
    this.closing.push(() => c.destroy());
    return c;
  }

  private get region() {
    return this.args.queues.region ? { region: this.args.queues.region } : {};
  }

  /** The SDK retries throttling and 5xx; a replay re-run covers anything beyond that. */
  get sqs(): SQSClient {
    const endpoint = this.args.queues.endpoint ? { endpoint: this.args.queues.endpoint } : {};
    return (this.sqsClient ??= this.client(new SQSClient({ ...this.region, ...endpoint, maxAttempts: 5 })));
  }

  readonly secrets = (): SecretsManagerClient => (this.secretsClient ??= this.client(new SecretsManagerClient(this.region)));
  readonly cloudFormation = (): CloudFormationClient => this.client(new CloudFormationClient(this.region));

  /** Holds what it reads until the command ends, then makes it visible again at once. */
  holder(visibilitySeconds = this.args.read.visibilitySeconds, renew = true): Holder {
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

  out(text: string): void {
    const t = scrub(text);
    this.io.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
  }

  err(text: string): void {
    const t = scrub(text);
    this.io.stderr.write(t.endsWith('\n') ? t : `${t}\n`);
  }

  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /**
   * Reads the configured Nango key only to scrub it from what is printed (an older version could
   * store an echoed Authorization header in an envelope). Not finding it is no reason to stop.
   */
  async learnNangoKey(): Promise<void> {
    try {
      await readNangoKey(this.args.nango, this.io.env, this.secrets);
    } catch (e) {
      this.err(`note: ${(e as Error).message}; printing without it (credentials after "Bearer" are still hidden).`);
    }
  }

  async confirm(question: string, word: string): Promise<boolean> {
    const rl = createInterface({ input: this.io.stdin, output: this.io.stderr, terminal: false });
    try {
      return (await rl.question(question, { signal: this.io.signal })).trim().toLowerCase() === word;
    } catch {
      return false;
    } finally {
      rl.close();
    }
  }
}
