/** `purge`: empty a DLQ for good. Asks on a terminal; without one, only with --yes. */
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import type { Context } from '../context.ts';
import { CliError, EXIT, describeError } from '../errors.ts';
import { Holder } from '../holder.ts';
import { dlqsFor, resolveQueueUrls } from '../queues.ts';
import { confirm } from './native.ts';

export async function purgeCommand(ctx: Context): Promise<number> {
  const { args } = ctx;
  const urls = await resolveQueueUrls(args.queues, ctx.io.env, ctx.cloudFormation);
  const dlqs = dlqsFor(urls, args.stages);
  const holder = new Holder(ctx.sqs, args.read.visibilitySeconds, ctx.endpoint);
  const plan = [];
  for (const d of dlqs) plan.push({ ...d, approximateMessages: await holder.count(d.url) });
  if (!args.yes) {
    if (!ctx.io.stdin.isTTY) throw new CliError('refusing to purge without a terminal to confirm on: pass --yes to purge anyway.');
    for (const p of plan) ctx.err(`${p.stage} DLQ ${p.url}: ~${p.approximateMessages} message(s)`);
    if (!(await confirm(ctx, 'Delete all of them for good? Type "purge" to confirm: ', 'purge'))) {
      ctx.err('Not purged.');
      return EXIT.failed;
    }
  }
  for (const p of plan) {
    try {
      await ctx.sqs.send(new PurgeQueueCommand({ QueueUrl: p.url }));
    } catch (e) {
      throw describeError(e, { queueUrl: p.url });
    }
    if (!args.json) ctx.out(`Purged the ${p.stage} DLQ (~${p.approximateMessages} message(s)). SQS may take up to 60 seconds to finish.`);
  }
  if (args.json) ctx.json({ purged: plan });
  return EXIT.ok;
}
