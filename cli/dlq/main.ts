/** Dispatch: parse, run the command, turn any error into one clear line and an exit code. */
import { createInterface } from 'node:readline/promises';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CliError, describeError, EXIT, scrub } from '../errors.ts';
import { HELP, type ParsedArgs, parseCommandLine } from './args.ts';
import { dlqsFor, Holder, resolveQueueUrls } from './read.ts';
import { replayCommand } from './replay.ts';
import { listCommand, readNangoKey } from './show.ts';

export { EXIT } from '../errors.ts';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Fires on Ctrl-C: commands stop starting new work and put back what they hold. */
  signal: AbortSignal;
  now?: () => Date;
}

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseCommandLine(argv, io.now?.() ?? new Date());
  } catch (e) {
    const err = describeError(e);
    io.stderr.write(`dlq: ${scrub(err.message)}\n`);
    return err.exitCode;
  }
  if (args.help || args.command === 'help') {
    io.stdout.write(`${HELP[args.command]}\n`);
    return EXIT.ok;
  }
  const ctx = new Ctx(args, io);
  try {
    if (args.command === 'replay') return await replayCommand(ctx);
    if (args.command === 'purge') return await purgeCommand(ctx);
    return await listCommand(ctx, args.command);
  } catch (e) {
    const err = describeError(e, { endpoint: ctx.endpoint });
    ctx.err(`dlq ${args.command}: ${err.message}`);
    return err.exitCode;
  } finally {
    await ctx.close();
  }
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

/** `purge`: empty a DLQ for good. Asks on a terminal; without one, only with --yes. */
async function purgeCommand(ctx: Ctx): Promise<number> {
  const { args } = ctx;
  const holder = ctx.holder(undefined, false);
  const plan = [];
  for (const d of dlqsFor(await resolveQueueUrls(args.queues, ctx.io.env, ctx.cloudFormation), args.stages)) {
    plan.push({ ...d, approximateMessages: await holder.count(d.url) });
  }
  if (!args.yes) {
    if (!ctx.io.stdin.isTTY) throw new CliError('refusing to purge without a terminal to confirm on: pass --yes to purge anyway.');
    for (const p of plan) ctx.err(`${p.stage} DLQ ${p.url}: ~${p.approximateMessages} message(s)`);
    if (!(await ctx.confirm('Delete all of them for good? Type "purge" to confirm: ', 'purge'))) {
      ctx.err('Not purged.');
      return EXIT.failed;
    }
  }
  for (const p of plan) {
    await ctx.sqs.send(new PurgeQueueCommand({ QueueUrl: p.url })).catch((e: unknown) => {
      throw describeError(e, { queueUrl: p.url });
    });
    if (!args.json) ctx.out(`Purged the ${p.stage} DLQ (~${p.approximateMessages} message(s)). SQS may take up to 60 seconds to finish.`);
  }
  if (args.json) ctx.json({ purged: plan });
  return EXIT.ok;
}
