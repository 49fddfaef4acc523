/** Dispatch: parse, run the command, turn any error into one clear line and an exit code. */
import { createInterface } from 'node:readline/promises';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { npmTookDryRun } from '../args.ts';
import { CliError, describeError, EXIT, scrub } from '../errors.ts';
import { HELP, parseCommandLine } from './args.ts';
import { Ctx, type Io } from './ctx.ts';
import { dlqsFor, resolveQueueUrls } from './read.ts';
import { replayCommand } from './replay.ts';
import { listCommand } from './show.ts';

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let ctx: Ctx | undefined;
  try {
    const args = parseCommandLine(argv, io.now?.() ?? new Date());
    if (args.help || args.command === 'help') {
      io.stdout.write(`${HELP[args.command]}\n`);
      return EXIT.ok;
    }
    const tookDryRun = args.command === 'replay' && npmTookDryRun(io.env, 'dlq replay', args.dryRun);
    if (tookDryRun) throw new CliError(tookDryRun.message, EXIT.usage);
    ctx = new Ctx(args, io);
    if (args.command === 'replay') return await replayCommand(ctx);
    return await (args.command === 'purge' ? purgeCommand(ctx) : listCommand(ctx, args.command));
  } catch (e) {
    const err = describeError(e, { endpoint: ctx?.endpoint });
    io.stderr.write(`${scrub(`dlq${ctx ? ` ${ctx.args.command}` : ''}: ${err.message}`)}\n`);
    return err.exitCode;
  } finally {
    await ctx?.close();
  }
}

/** `purge`: empty a DLQ for good. Asks on a terminal; without one, only with --yes. */
async function purgeCommand(ctx: Ctx): Promise<number> {
  const { args, io } = ctx;
  const holder = ctx.holder(false);
  const dlqs = dlqsFor(await resolveQueueUrls(args.queues, io.env, ctx.cloudFormation), args.filter.stages);
  const plan = await Promise.all(dlqs.map(async (d) => ({ ...d, approximateMessages: await holder.count(d.url) })));
  if (!args.yes) {
    if (!io.stdin.isTTY) throw new CliError('refusing to purge without a terminal to confirm on: pass --yes to purge anyway.');
    for (const p of plan) ctx.err(`${p.stage} DLQ ${p.url}: ~${p.approximateMessages} message(s)`);
    const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
    const ask = rl.question('Delete all of them for good? Type "purge" to confirm: ', { signal: io.signal }).catch(() => '');
    // Ctrl-D closes the prompt unanswered, which alone never settles the question; an answer read just before wins.
    const answer = await Promise.race([ask, new Promise<string>((end) => rl.once('close', () => setImmediate(end, '')))]);
    rl.close();
    if (answer.trim().toLowerCase() !== 'purge') {
      ctx.err('Not purged.');
      return EXIT.failed;
    }
  }
  for (const p of plan) {
    await holder.call(p.url, ctx.sqs.send(new PurgeQueueCommand({ QueueUrl: p.url })));
    if (!args.json) ctx.out(`Purged the ${p.stage} DLQ (~${p.approximateMessages} message(s)). SQS may take up to 60 seconds to finish.`);
  }
  if (args.json) ctx.json({ purged: plan });
  return EXIT.ok;
}
