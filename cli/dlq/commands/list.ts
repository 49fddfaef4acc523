/** `list` and `inspect`: read both DLQs, show what failed and why, put everything back. */
import { select, hasCriteria } from '../filters.ts';
import type { Context } from '../context.ts';
import { renderItem, renderList, renderSummary } from '../format.ts';
import { Holder } from '../holder.ts';
import { dlqsFor, resolveQueueUrls } from '../queues.ts';
import { summarize } from '../summary.ts';
import { EXIT } from '../errors.ts';
import { itemJson, renderReports, scanDlqs } from './scan.ts';

export async function listCommand(ctx: Context, mode: 'list' | 'inspect'): Promise<number> {
  const { args } = ctx;
  const urls = await resolveQueueUrls(args.queues, ctx.io.env, ctx.cloudFormation);
  const dlqs = dlqsFor(urls, args.stages);
  await ctx.learnNangoKey();
  const holder = new Holder(ctx.sqs, args.read.visibilitySeconds, ctx.endpoint);
  holder.startRenewing();
  try {
    const { items, reports } = await scanDlqs(ctx, holder, dlqs);
    const chosen = select(items, args.filter);
    const now = ctx.now;
    const summary = summarize(chosen, now);
    if (args.json) {
      ctx.json({
        queues: reports,
        matched: chosen.length,
        read: items.length,
        summary,
        items: chosen.map((i) => itemJson(i, mode === 'inspect')),
      });
      return EXIT.ok;
    }
    ctx.out(renderReports(reports));
    if (hasCriteria(args.filter)) ctx.out(`${chosen.length} of ${items.length} message(s) match the filters.`);
    ctx.out('');
    ctx.out(renderSummary(summary));
    if (chosen.length) {
      ctx.out('');
      ctx.out(mode === 'list' ? renderList(chosen, now) : chosen.map(renderItem).join('\n\n'));
    }
    return EXIT.ok;
  } finally {
    const stuck = await holder.releaseAll();
    if (stuck) ctx.err(`note: ${stuck} message(s) could not be made visible at once; they reappear after ${args.read.visibilitySeconds}s.`);
  }
}
