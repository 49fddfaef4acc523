/**
 * `replay`: choose DLQ messages with the filters and send them back (or, with --dry-run, show what
 * would be sent beside Nango's current metadata). Before anything is read or sent, each destination
 * is checked against the DLQ (destination.ts). A FIFO DLQ hands out a message group in order
 * only, so after deleting the replayed heads of groups we read again, until nothing new appears.
 */
import type { Stage } from '#commons/dlq-envelope';
import type { Context } from '../context.ts';
import { checkDestination, describeProblems, type DestinationCheck } from '../destination.ts';
import { CliError, EXIT } from '../errors.ts';
import { select } from '../filters.ts';
import { renderComparison, renderCurrent, safe, comparePatch } from '../format.ts';
import { Holder } from '../holder.ts';
import { STAGE_QUEUES, type DlqItem } from '../model.ts';
import { NangoReader, resolveNangoAccess, type MetadataResult, type NangoAccess } from '../nango.ts';
import { pacer } from '../pace.ts';
import { progressBar } from '../progress.ts';
import { dlqsFor, howToGive, isFifoUrl, resolveQueueUrls, type QueueUrls } from '../queues.ts';
import { emptyOutcome, replayItems, type ReplayOutcome } from '../replay.ts';
import { itemJson, renderReports, scanDlqs, type QueueReport } from './scan.ts';
import { nativeCommand } from './native.ts';

export async function replayCommand(ctx: Context): Promise<number> {
  const { args } = ctx;
  const urls = await resolveQueueUrls(args.queues, ctx.io.env, ctx.cloudFormation);
  // A dry run that asks Nango reads (and registers) the key itself.
  if (!args.dryRun || args.nango.skip) await ctx.learnNangoKey();
  if (args.native) return nativeCommand(ctx, urls);
  const dlqs = dlqsFor(urls, args.stages);
  const holder = new Holder(ctx.sqs, args.read.visibilitySeconds, ctx.endpoint);
  holder.startRenewing();
  try {
    return args.dryRun ? await dryRun(ctx, holder, dlqs, urls) : await replay(ctx, holder, dlqs, urls);
  } finally {
    const stuck = await holder.releaseAll();
    if (stuck) ctx.err(`note: ${stuck} message(s) could not be made visible at once; they reappear after ${args.read.visibilitySeconds}s.`);
  }
}

async function replay(ctx: Context, holder: Holder, dlqs: { stage: Stage; url: string }[], urls: QueueUrls): Promise<number> {
  const { args } = ctx;
  const processed = new Set<string>();
  const blockedGroups = new Set<string>();
  const outcome = emptyOutcome();
  let remaining = args.filter.max ?? Number.POSITIVE_INFINITY;
  let selectedTotal = 0;
  let firstReports: QueueReport[] | undefined;
  let lastReports: QueueReport[] = [];
  let bar: ReturnType<typeof progressBar> | undefined;
  const pace = pacer(args.rate);
  const fifo = dlqs.some((d) => isFifoUrl(d.url));
  guard(ctx, await checkDestinations(holder, dlqs, urls));

  for (;;) {
    const { items, reports } = await scanDlqs(ctx, holder, dlqs);
    lastReports = reports;
    if (!firstReports) {
      firstReports = reports;
      if (!args.json) ctx.err(renderReports(reports));
    }
    const fresh = items.filter((i) => !processed.has(i.messageId));
    for (const i of fresh) processed.add(i.messageId);
    const chosen = select(fresh, { ...args.filter, max: Number.isFinite(remaining) ? remaining : undefined });
    if (!chosen.length) break;
    checkTargets(chosen, urls);
    remaining -= chosen.length;
    selectedTotal += chosen.length;
    bar ??= progressBar(0, ctx.io.stderr);
    bar.setTotal(selectedTotal);
    const before = outcome.replayed.length;
    await replayItems(
      chosen,
      {
        sqs: ctx.sqs,
        holder,
        targets: { ingress: urls.ingress, sync: urls.sync },
        pacer: pace,
        signal: ctx.io.signal,
        progress: bar,
        blockedGroups,
      },
      outcome,
    );
    // Only deleting the head of a FIFO group uncovers more; a standard queue was read whole.
    if (!fifo || outcome.interrupted || remaining <= 0 || outcome.replayed.length === before) break;
  }

  bar?.finish(counts(outcome));
  const after = await Promise.all(
    dlqs.map(async (d) => ({ stage: d.stage, url: d.url, approximateMessages: await holder.count(d.url).catch(() => undefined) })),
  );
  if (args.json) {
    ctx.json({
      selected: selectedTotal,
      replayed: outcome.replayed.length,
      messagesSent: outcome.messagesSent,
      failed: outcome.failed.map((f) => ({ messageId: f.item.messageId, error: f.error })),
      skipped: outcome.skipped.map((s) => ({ messageId: s.item.messageId, reason: s.reason })),
      sentNotDeleted: outcome.sentNotDeleted.map((s) => ({ messageId: s.item.messageId, error: s.error })),
      interrupted: outcome.interrupted,
      queuesBefore: firstReports,
      queuesAfter: after,
      notReached: lastReports.reduce((n, r) => n + r.notReached, 0),
    });
  } else {
    ctx.out(renderOutcome(selectedTotal, outcome, after));
  }
  if (outcome.interrupted) return EXIT.interrupted;
  return outcome.failed.length || outcome.sentNotDeleted.length || outcome.skipped.length ? EXIT.failed : EXIT.ok;
}

/** Each DLQ against the queue its messages go back to; stages whose destination is not given are checked by checkTargets. */
export async function checkDestinations(
  holder: Holder,
  dlqs: readonly { stage: Stage; url: string }[],
  urls: QueueUrls,
): Promise<DestinationCheck[]> {
  const checks: DestinationCheck[] = [];
  for (const d of dlqs) {
    const dest = urls[STAGE_QUEUES[d.stage].source];
    if (dest) checks.push(await checkDestination(holder, d.stage, d.url, dest));
  }
  return checks;
}

/** Refuses (exit 2) before anything is sent, unless --force, which says loudly what it overrides. */
export function guard(ctx: Context, checks: readonly DestinationCheck[]): void {
  const bad = describeProblems(checks);
  if (!bad) return;
  if (!ctx.args.force) {
    throw new CliError(`refusing to replay, nothing was sent:\n${bad}\nCheck the queue URLs (or --stack); --force replays anyway.`);
  }
  ctx.err(`WARNING: --force given: replaying although\n${bad}`);
}

/** Fails before anything is sent when a chosen message's source queue is unknown. */
function checkTargets(items: readonly DlqItem[], urls: QueueUrls): void {
  for (const stage of ['route', 'apply'] as const) {
    const role = STAGE_QUEUES[stage].source;
    if (items.some((i) => i.replay.ok && i.replay.messages.some((m) => m.queue === role)) && !urls[role]) {
      throw new CliError(`no URL for the ${role} queue that ${stage} failures go back to: ${howToGive(role)}`);
    }
  }
}

const counts = (o: ReplayOutcome) => ({
  done: o.replayed.length + o.sentNotDeleted.length,
  failed: o.failed.length,
  skipped: o.skipped.length,
});

function renderOutcome(selected: number, o: ReplayOutcome, after: { stage: Stage; approximateMessages: number | undefined }[]): string {
  const lines: string[] = [];
  if (!selected) {
    lines.push('Nothing to replay: no message matches.');
  } else {
    lines.push(
      `${o.interrupted ? 'Interrupted. ' : ''}Replayed ${o.replayed.length} of ${selected} chosen message(s): ${o.messagesSent} message(s) sent to source queues, ` +
        `${o.failed.length} failed, ${o.skipped.length} skipped, ${o.sentNotDeleted.length} sent but still in the DLQ.`,
    );
  }
  for (const f of o.failed) lines.push(`  failed   ${f.item.messageId}: ${safe(f.error, 300)}`);
  for (const s of o.skipped) lines.push(`  skipped  ${s.item.messageId}: ${safe(s.reason, 300)}`);
  for (const s of o.sentNotDeleted)
    lines.push(`  sent, not deleted (a later replay sends it again) ${s.item.messageId}: ${safe(s.error, 300)}`);
  if (o.interrupted) lines.push('Every message not replayed is still in the DLQ; run the same command again to go on.');
  lines.push(after.map((a) => `${a.stage} DLQ now holds ~${a.approximateMessages ?? '?'} message(s).`).join(' '));
  return lines.join('\n');
}

async function dryRun(ctx: Context, holder: Holder, dlqs: { stage: Stage; url: string }[], urls: QueueUrls): Promise<number> {
  const { args } = ctx;
  const { items, reports } = await scanDlqs(ctx, holder, dlqs);
  const chosen = select(items, args.filter);
  const needsNango = !args.nango.skip && chosen.some((i) => i.stage === 'apply' && i.connectionId !== undefined);
  const access: NangoAccess | undefined = needsNango ? await resolveNangoAccess(args.nango, ctx.io.env, ctx.secrets) : undefined;
  if (!needsNango && !args.nango.skip) await ctx.learnNangoKey();
  const reader = access ? new NangoReader(access) : undefined;
  try {
    return await showPlan(ctx, chosen, reports, urls, reader, needsNango, await checkDestinations(holder, dlqs, urls));
  } finally {
    await reader?.close();
  }
}

async function showPlan(
  ctx: Context,
  chosen: DlqItem[],
  reports: QueueReport[],
  urls: QueueUrls,
  reader: NangoReader | undefined,
  needsNango: boolean,
  checks: DestinationCheck[],
): Promise<number> {
  const { args } = ctx;
  const cache = new Map<string, Promise<MetadataResult>>();
  const current = (i: DlqItem): Promise<MetadataResult> | undefined => {
    if (!reader || i.stage !== 'apply' || i.connectionId === undefined || i.providerConfigKey === undefined) return undefined;
    const k = JSON.stringify([i.providerConfigKey, i.connectionId]);
    if (!cache.has(k)) cache.set(k, reader.metadataOf(i.connectionId, i.providerConfigKey));
    return cache.get(k);
  };
  const destinationProblems = describeProblems(checks);
  const missing: string[] = [];
  for (const stage of ['route', 'apply'] as const) {
    const role = STAGE_QUEUES[stage].source;
    if (chosen.some((i) => i.stage === stage && i.replay.ok) && !urls[role]) missing.push(`${role} (${howToGive(role)})`);
  }

  if (args.json) {
    const out = [];
    for (const i of chosen) {
      const cur = await current(i);
      out.push({
        ...itemJson(i, true),
        current: cur,
        comparison: cur?.ok && i.patch ? comparePatch(cur.metadata, i.patch, i.keyTimes) : undefined,
      });
    }
    ctx.json({
      dryRun: true,
      queues: reports,
      selected: chosen.length,
      nango: reader ? reader.host : null,
      missingTargets: missing,
      destinationProblems: destinationProblems ? destinationProblems.split('\n') : [],
      items: out,
    });
    return EXIT.ok;
  }

  ctx.out(renderReports(reports));
  ctx.out(
    `Dry run: ${chosen.length} message(s) chosen, ${chosen.filter((i) => i.replay.ok).length} replayable. Nothing is sent or removed.`,
  );
  if (missing.length) ctx.out(`Before a real replay, give the queue URL for: ${missing.join('; ')}`);
  if (destinationProblems) ctx.out(`A real replay would refuse (without --force):\n${destinationProblems}`);
  if (needsNango && !reader) {
    ctx.out(
      "(No Nango key: set NANGO_SECRET_KEY, or NANGO_SECRET_ID / --nango-secret-id, to see each connection's current metadata; --no-nango hides this note.)",
    );
  }
  for (const i of chosen) {
    ctx.out('');
    const head = `[${i.stage}] ${i.messageId}  ${safe(i.errorCode, 40)}${i.status ? ` (HTTP ${i.status})` : ''}  ${safe(i.eventType ?? '-', 40)}`;
    const target = i.connectionId !== undefined ? `  ${safe(i.providerConfigKey ?? '-', 40)} / ${safe(i.connectionId, 60)}` : '';
    ctx.out(head + target);
    if (!i.replay.ok) {
      ctx.out(`  not replayable: ${safe(i.replay.reason, 200)}`);
      continue;
    }
    for (const m of i.replay.messages) {
      ctx.out(
        `  -> ${m.queue}${m.groupId ? ` group ${m.groupId.slice(0, 12)}…` : ''}${i.stage === 'route' ? `: ${safe(m.body, 300)}` : ''}`,
      );
    }
    if (i.stage === 'apply' && i.patch) {
      const cur = await current(i);
      ctx.out(indent(renderComparison(i.patch, cur, i.keyTimes), '  '));
    } else if (i.stage === 'apply' && reader) {
      // A sync message carries no data: apply sends the latest desired state. Show what Nango holds now.
      ctx.out(indent(renderCurrent(await current(i)), '  '));
    }
  }
  return EXIT.ok;
}

const indent = (s: string, pad: string) =>
  s
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
