/**
 * What a command runs with: its streams, environment, interrupt signal, clock, and AWS clients
 * created on first use (and destroyed at the end, so no keep-alive socket holds the CLI open).
 * Tests call `run` with their own streams and environment; the entry point passes the process's.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { ParsedArgs } from './args.ts';
import { secretsClient, sqsClient, sqsEndpoint } from './aws.ts';
import { readNangoKey } from './nango.ts';
import { scrub } from './scrub.ts';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Fires on Ctrl-C: commands stop starting new work and put back what they hold. */
  signal: AbortSignal;
  now?: () => Date;
}

export class Context {
  private sqsInstance: SQSClient | undefined;
  private secretsInstance: SecretsManagerClient | undefined;
  readonly cfnClients: CloudFormationClient[] = [];

  constructor(
    readonly args: ParsedArgs,
    readonly io: Io,
  ) {}

  get now(): Date {
    return this.io.now?.() ?? new Date();
  }

  get sqs(): SQSClient {
    return (this.sqsInstance ??= sqsClient(this.args.queues));
  }

  readonly secrets = (): SecretsManagerClient => (this.secretsInstance ??= secretsClient(this.args.queues));

  /** Only --stack needs CloudFormation. */
  readonly cloudFormation = (): CloudFormationClient => {
    const c = new CloudFormationClient(this.args.queues.region ? { region: this.args.queues.region } : {});
    this.cfnClients.push(c);
    return c;
  };

  get endpoint(): string | undefined {
    return sqsEndpoint(this.args.queues, this.io.env);
  }

  /** Everything printed passes through `scrub`: no Nango key reaches the terminal, whatever a stored error text holds. */
  out(text: string): void {
    const t = scrub(text);
    this.io.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
  }

  err(text: string): void {
    const t = scrub(text);
    this.io.stderr.write(t.endsWith('\n') ? t : `${t}\n`);
  }

  /**
   * Reads the configured Nango key only to scrub it from what is printed (an older version could
   * store an echoed Authorization header in an envelope). Not finding it is no reason to stop: the
   * pattern scrub still applies.
   */
  async learnNangoKey(): Promise<void> {
    try {
      await readNangoKey(this.args.nango, this.io.env, this.secrets);
    } catch (e) {
      this.err(`note: ${(e as Error).message}; printing without it (credentials after "Bearer" are still hidden).`);
    }
  }

  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  destroy(): void {
    this.sqsInstance?.destroy();
    this.secretsInstance?.destroy();
    for (const c of this.cfnClients) c.destroy();
  }
}
