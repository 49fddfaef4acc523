/**
 * `replay`: check the destinations, then send each message with the functions' SqsQueues and delete it from the DLQ only once
 * every send for it succeeded, so it is always either still in the DLQ or sent. `--dry-run` shows the plan beside Nango's
 * current metadata; `--native` hands the whole DLQ to SQS's own move task.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ListMessageMoveTasksCommand, type SQSClient, StartMessageMoveTaskCommand } from '@aws-sdk/client-sqs';
import type { Stage } from '#commons/dlq-envelope';
import { tryJson } from '#commons/json';
import { SqsQueues } from '#commons/queues';
import { CliError, describeError, EXIT } from '../errors.ts';
import { progressLine } from '../format.ts';
import type { Ctx } from './ctx.ts';
import * as read from './read.ts';
import type { Dlq, DlqItem, Holder, QueueUrls } from './read.ts';
import { comparePatch, itemJson, renderComparison, renderCurrent, renderReports, safe } from './show.ts';

export async function replayCommand(ctx: Ctx): Promise<number> {
  const { args } = ctx;
  // Find the queues, and (unless a dry run reads it to ask Nango) the key to scrub from what is printed.
  const urls = await read.resolveQueueUrls(args.queues, ctx.io.env, ctx.cloudFormation);
  if (!args.dryRun || args.nango.skip) await ctx.nangoKey();
  if (args.native && read.hasCriteria(args.filter)) {
    throw new CliError('--native moves every message of a DLQ; it takes no filters. Drop --native to replay a chosen subset.');
  }
  const dlqs = read.dlqsFor(urls, args.filter.stages);
  if (args.native) for (const d of dlqs) read.sourceUrl(urls, d.stage);
  const holder = ctx.holder(!args.native);
  if (args.dryRun && !args.native) return dryRun(ctx, holder, dlqs, urls);

  // Check the destinations before anything is read or sent: refuse (exit 2) unless --force, which says loudly what it overrides.
  const { problems, arns } = await checkDestinations(holder, dlqs, urls);
  if (problems && !args.force) {
    throw new CliError(`refusing to replay, nothing was sent:\n${problems}\nCheck the queue URLs (or --stack); --force replays anyway.`);
  }
  if (problems) ctx.err(`WARNING: --force given: replaying although\n${problems}`);
  if (args.native) return nativeCommand(ctx, holder, dlqs, urls, arns);

  // Move, round after round: in a FIFO DLQ, deleting the replayed heads of groups uncovers the messages behind them.
  const o = emptyOutcome();
  const processed = new Set<string>();
  const deps = { sqs: ctx.sqs, holder, targets: urls, pacer: pacer(args.rate), signal: ctx.io.signal, blockedGroups: new Set<string>() };
  let remaining = args.filter.max ?? Number.POSITIVE_INFINITY;
  const reports: read.QueueReport[][] = [];
  let progress: Progress | undefined;
  const sentThisRun = new Set<string>();
  for (;;) {
    const scan = await read.scanDlqs(holder, dlqs, args.read, ctx.io.stderr);
    if (reports.push(scan.reports) === 1 && !args.json) ctx.err(renderReports(scan.reports));
    const fresh = scan.items.filter((i) => !processed.has(i.messageId) && processed.add(i.messageId));
    const chosen = read.select(fresh, { ...args.filter, max: Number.isFinite(remaining) ? remaining : undefined });
    if (!chosen.length) break;
    for (const stage of missingTargets(chosen, urls)) read.sourceUrl(urls, stage);
    remaining -= chosen.length;
    progress ??= progressBar(ctx.io.stderr);
    progress.total += chosen.length;
    // What this run sent and the pipeline parked again (the cause is not fixed) comes back as a new DLQ message: sending it
    // again would go round for as long as the tool runs. It stays in the DLQ for a run after the fix.
    const again = chosen.filter((i) => i.replay.ok && i.replay.messages.every((m) => sentThisRun.has(sentKey(m))));
    for (const item of again) o.skipped.push({ item, reason: 'failed again after this run sent it; fix the cause, then replay' });
    const before = o.replayed.length;
    const doneBefore = o.replayed.length + o.sentNotDeleted.length;
    await replayItems(
      chosen.filter((i) => !again.includes(i)),
      { ...deps, progress },
      o,
    );
    for (const { replay } of [...o.replayed, ...o.sentNotDeleted.map((x) => x.item)].slice(doneBefore)) {
      for (const m of replay.ok ? replay.messages : []) sentThisRun.add(sentKey(m));
    }
    if (!dlqs.some((d) => read.isFifoUrl(d.url)) || o.interrupted || remaining <= 0 || o.replayed.length === before) break;
  }

  progress?.finish(o);
  const selected = progress?.total ?? 0;
  const after = [];
  for (const { stage, url } of dlqs) after.push({ stage, url, approximateMessages: await holder.count(url).catch(() => undefined) });
  type Listed = { item: DlqItem; error?: string; reason?: string }[];
  const ids = (list: Listed) => list.map(({ item, ...why }) => ({ messageId: item.messageId, ...why }));
  if (args.json) {
    ctx.json({
      ...{ selected, replayed: o.replayed.length, messagesSent: o.messagesSent },
      ...{ failed: ids(o.failed), skipped: ids(o.skipped), sentNotDeleted: ids(o.sentNotDeleted) },
      ...{ interrupted: o.interrupted, queuesBefore: reports[0], queuesAfter: after },
      notReached: reports.at(-1)!.reduce((n, r) => n + r.notReached, 0),
    });
  } else {
    ctx.out(
      selected
        ? `${o.interrupted ? 'Interrupted. ' : ''}Replayed ${o.replayed.length} of ${selected} chosen message(s): ${o.messagesSent} message(s) sent to source queues, ` +
            `${o.failed.length} failed, ${o.skipped.length} skipped, ${o.sentNotDeleted.length} sent but still in the DLQ.`
        : 'Nothing to replay: no message matches.',
    );
    const heads = ['failed  ', 'skipped ', 'sent, not deleted (a later replay sends it again)'];
    [o.failed, o.skipped, o.sentNotDeleted].forEach((list: Listed, n) => {
      for (const f of list) ctx.out(`  ${heads[n]} ${f.item.messageId}: ${safe(f.error ?? f.reason, 300)}`);
    });
    if (o.interrupted) ctx.out('Every message not replayed is still in the DLQ; run the same command again to go on.');
    ctx.out(after.map((a) => `${a.stage} DLQ now holds ~${a.approximateMessages ?? '?'} message(s).`).join(' '));
  }
  return o.interrupted ? EXIT.interrupted : o.failed.length || o.sentNotDeleted.length || o.skipped.length ? EXIT.failed : EXIT.ok;
}

/**
 * Replay sends wherever it is told, so a wrong URL (another stack's queue, the DLQ itself, a swapped flag) must be refused:
 * each given destination's RedrivePolicy must name the DLQ's QueueArn, and both must be FIFO or both standard.
 */
async function checkDestinations(holder: Holder, dlqs: readonly Dlq[], urls: QueueUrls) {
  const problems: string[] = [];
  const arns: Arns = {};
  for (const { stage, url: dlqUrl } of dlqs) {
    const destUrl = urls[read.STAGE_QUEUES[stage].source];
    if (!destUrl) continue;
    const [dlq, dest] = [await holder.attributes(dlqUrl), await holder.attributes(destUrl)];
    const target = (tryJson(dest.RedrivePolicy ?? '') as { deadLetterTargetArn?: unknown } | undefined)?.deadLetterTargetArn;
    const bad: string[] = [];
    if (!dlq.QueueArn) bad.push(`SQS returned no QueueArn for the DLQ ${dlqUrl}`);
    else if (typeof target !== 'string')
      bad.push(`${destUrl} has no redrive policy: it is not the queue whose failures land in ${dlq.QueueArn}`);
    else if (target !== dlq.QueueArn)
      bad.push(`${destUrl} sends its failures to ${target}, not to the DLQ being replayed (${dlq.QueueArn})`);
    const kind = (a: Record<string, string>, url: string) => (a.FifoQueue === 'true' || read.isFifoUrl(url) ? 'FIFO' : 'standard');
    if (kind(dlq, dlqUrl) !== kind(dest, destUrl)) bad.push(`the DLQ is ${kind(dlq, dlqUrl)} but ${destUrl} is ${kind(dest, destUrl)}`);
    if (bad.length) problems.push(`${stage}: ${bad.join('; ')}`);
    arns[stage] = { dlq: dlq.QueueArn, destination: dest.QueueArn };
  }
  return { problems: problems.join('\n'), arns };
}

type Arns = Partial<Record<Stage, { dlq?: string | undefined; destination?: string | undefined }>>;

/** One outgoing message as its destination sees it (the deduplication id differs per DLQ message, so it is left out). */
const sentKey = (m: read.Outgoing) => JSON.stringify([m.queue, m.groupId ?? '', m.body]);

const missingTargets = (items: readonly DlqItem[], urls: QueueUrls) =>
  (['route', 'apply'] as const).filter((s) => !urls[read.STAGE_QUEUES[s].source] && items.some((i) => i.replay.ok && i.stage === s));

/** `replayed`: sent and deleted; `failed`, `skipped` (not attempted): still in the DLQ; `sentNotDeleted`: a later replay sends it again. */
const emptyOutcome = () => ({
  replayed: [] as DlqItem[],
  messagesSent: 0, // messages put on source queues (an envelope of several originals holds several)
  failed: [] as { item: DlqItem; error: string }[],
  skipped: [] as { item: DlqItem; reason: string }[],
  sentNotDeleted: [] as { item: DlqItem; error: string }[],
  interrupted: false,
});
type Outcome = ReturnType<typeof emptyOutcome>;
type Deps = { sqs: SQSClient; holder: Holder; targets: QueueUrls; pacer: ReturnType<typeof pacer>; signal: AbortSignal } & Options;
type Options = { progress?: Progress; blockedGroups?: Set<string> };

/**
 * For each item, in order: send its original message(s) to the stage's source queue, then delete it from
 * the DLQ. A failed send holds back its connection's later messages (`blockedGroups`, kept across rounds).
 */
export async function replayItems(items: readonly DlqItem[], deps: Deps, out = emptyOutcome()): Promise<Outcome> {
  const blocked = deps.blockedGroups ?? new Set<string>();
  const queues = new SqsQueues(deps.sqs);
  for (const item of items) {
    if ((out.interrupted = deps.signal.aborted)) break;
    const messages = item.replay.ok ? item.replay.messages : [];
    const groups = messages.flatMap((m) => (m.groupId ? [m.groupId] : []));
    let sent = 0;
    try {
      if (!item.replay.ok) out.skipped.push({ item, reason: item.replay.reason });
      else if (groups.some((g) => blocked.has(g)))
        out.skipped.push({ item, reason: 'an earlier message of this connection was not replayed; kept to preserve order' });
      else {
        for (const { queue, ...m } of messages) {
          await deps.pacer.take(deps.signal);
          const url = deps.targets[queue];
          if (!url) throw new Error(`no URL for the ${queue} queue`);
          // Not aborted mid-request: a send we cannot observe would leave us unsure what happened.
          await queues.send(url, m);
          sent++;
          out.messagesSent++;
        }
        await deps.holder.delete(item.held).then(
          () => out.replayed.push(item),
          (e: unknown) => out.sentNotDeleted.push({ item, error: describeError(e, { queueUrl: item.held.queueUrl }).message }),
        );
      }
    } catch (e) {
      if ((e as Error | undefined)?.name === 'AbortError') {
        // Interrupted while waiting for the pacer. A partly sent envelope stays in the DLQ and is sent whole next time.
        out.interrupted = true;
        if (sent) out.failed.push({ item, error: `interrupted after ${sent} of ${messages.length} messages` });
        break;
      }
      out.failed.push({ item, error: describeError(e, { queueUrl: messages[sent] && deps.targets[messages[sent]!.queue] }).message });
      for (const g of groups) blocked.add(g);
    }
    deps.progress?.update(out);
  }
  return out;
}

type Clock = { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<unknown> };
const SYSTEM_CLOCK: Clock = { now: () => performance.now(), sleep: (ms, signal) => sleep(ms, undefined, { signal }) };

/** Sends evenly spaced (no bursts), so a large replay floods neither the pipeline nor Nango's rate limit behind it. */
export function pacer(perSecond: number, clock = SYSTEM_CLOCK) {
  let next = -Infinity;
  return {
    /** Resolves when the next send may start; rejects with an AbortError if the signal fires first. */
    async take(signal?: AbortSignal): Promise<void> {
      signal?.throwIfAborted();
      if (!(perSecond > 0)) return;
      const t = clock.now();
      const at = Math.max(t, next);
      next = at + 1000 / perSecond;
      if (at > t) await clock.sleep(at - t, signal);
    },
  };
}

type Progress = { total: number; update(o: Outcome): void; finish(o: Outcome): void };

/** On stderr, so stdout stays clean for --json; a FIFO DLQ reveals more messages per round, so the total grows. */
function progressBar(out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }): Progress {
  const start = performance.now();
  const status = progressLine({ write: (t) => out.write(t), isTTY: Boolean(out.isTTY) }, 5000);
  const line = (o: Outcome) => {
    const [done, failed, skipped] = [o.replayed.length + o.sentNotDeleted.length, o.failed.length, o.skipped.length];
    const width = Math.max(10, Math.min(30, (out.columns ?? 80) - 60));
    const fill = Math.round((p.total ? (done + failed + skipped) / p.total : 1) * width);
    const secs = (performance.now() - start) / 1000;
    const bar = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done + failed + skipped}/${p.total}`;
    return `replay ${bar}  sent ${done}  failed ${failed}  skipped ${skipped}  ${(secs > 0 ? done / secs : 0).toFixed(1)}/s`;
  };
  const p: Progress = { total: 0, update: (o) => status.update(line(o)), finish: (o) => (status.done(), out.write(`${line(o)}\n`)) };
  return p;
}

async function dryRun(ctx: Ctx, holder: Holder, dlqs: Dlq[], urls: QueueUrls): Promise<number> {
  const { args } = ctx;
  const { items, reports } = await read.scanDlqs(holder, dlqs, args.read, ctx.io.stderr);
  const chosen = read.select(items, args.filter);
  const needsNango = !args.nango.skip && chosen.some((i) => i.stage === 'apply' && i.connectionId !== undefined);
  const found = args.nango.skip ? undefined : await ctx.nangoKey(needsNango);
  const host = args.nango.host ?? ctx.io.env.NANGO_HOST ?? found?.host ?? 'https://api.nango.dev';
  const reader = needsNango && found ? read.nangoReader(host, found.key) : undefined;
  const { problems } = await checkDestinations(holder, dlqs, urls);
  const cache = new Map<string, Promise<read.MetadataResult>>();
  const current = (i: DlqItem) => {
    if (!reader || i.stage !== 'apply' || i.connectionId === undefined || i.providerConfigKey === undefined) return undefined;
    const k = JSON.stringify([i.providerConfigKey, i.connectionId]);
    return cache.get(k) ?? cache.set(k, reader.metadataOf(i.connectionId, i.providerConfigKey)).get(k);
  };
  const missing = missingTargets(chosen, urls).map(
    (s) => `${read.STAGE_QUEUES[s].source} (${read.howToGive(read.STAGE_QUEUES[s].source)})`,
  );
  try {
    if (args.json) {
      const out = [];
      for (const i of chosen) {
        const cur = await current(i);
        const comparison = cur?.ok && i.patch ? comparePatch(cur.metadata, i.patch, i.keyTimes) : undefined;
        out.push({ ...itemJson(i, true), current: cur, comparison });
      }
      const [nango, destinationProblems] = [reader?.host ?? null, problems ? problems.split('\n') : []];
      ctx.json({ dryRun: true, queues: reports, selected: chosen.length, nango, missingTargets: missing, destinationProblems, items: out });
      return EXIT.ok;
    }
    ctx.out(renderReports(reports));
    const replayable = chosen.filter((i) => i.replay.ok).length;
    ctx.out(`Dry run: ${chosen.length} message(s) chosen, ${replayable} replayable. Nothing is sent or removed.`);
    if (missing.length) ctx.out(`Before a real replay, give the queue URL for: ${missing.join('; ')}`);
    if (problems) ctx.out(`A real replay would refuse (without --force):\n${problems}`);
    if (needsNango && !reader)
      ctx.out(
        "(No Nango key: set NANGO_SECRET_KEY, or NANGO_SECRET_ID / --nango-secret-id, to see each connection's current metadata; --no-nango hides this note.)",
      );
    for (const i of chosen) {
      const target = i.connectionId !== undefined ? `  ${safe(i.providerConfigKey ?? '-', 40)} / ${safe(i.connectionId, 60)}` : '';
      const status = i.status ? ` (HTTP ${i.status})` : '';
      ctx.out(`\n[${i.stage}] ${i.messageId}  ${safe(i.errorCode, 40)}${status}  ${safe(i.eventType ?? '-', 40)}${target}`);
      if (!i.replay.ok) ctx.out(`  not replayable: ${safe(i.replay.reason, 200)}`);
      const body = (m: read.Outgoing) => (i.stage === 'route' ? `: ${safe(m.body, 300)}` : '');
      for (const m of i.replay.ok ? i.replay.messages : [])
        ctx.out(`  -> ${m.queue}${m.groupId ? ` group ${m.groupId.slice(0, 12)}…` : ''}${body(m)}`);
      // A sync message carries no data: apply sends the latest desired state, so show what Nango holds now.
      if (!i.replay.ok || i.stage !== 'apply') continue;
      const shown = i.patch ? renderComparison(i.patch, await current(i), i.keyTimes) : reader && renderCurrent(await current(i));
      if (shown) ctx.out(shown.replace(/^/gm, '  '));
    }
    return EXIT.ok;
  } finally {
    await reader?.close();
  }
}

/**
 * `--native`: SQS moves a whole DLQ back (AWS only; no filters), bodies as they are: route and apply
 * unwrap their own envelopes. The destination is named, as SQS knows the source only of messages its
 * own redrive moved. Ctrl-C stops the watching only.
 */
async function nativeCommand(ctx: Ctx, holder: Holder, dlqs: readonly Dlq[], urls: QueueUrls, arns: Arns): Promise<number> {
  const { args } = ctx;
  const plans = [];
  for (const d of dlqs) {
    const approximate = await holder.count(d.url);
    const { dlq: arn, destination: destinationArn } = arns[d.stage] ?? {};
    if (!arn || !destinationArn) throw new CliError(`SQS returned no QueueArn for ${arn ? read.sourceUrl(urls, d.stage) : d.url}`);
    // A small sample shows what the DLQ holds (envelopes, bare redriven messages), for the operator.
    const sample = await holder.scan(d, { ...args.read, scanLimit: 10 });
    await holder.releaseAll();
    const envelopes = sample.items.filter((i) => i.kind === 'envelope').length;
    plans.push({ ...d, arn, destinationArn, approximate, envelopes, sampled: sample.items.length });
  }
  for (const p of plans) {
    ctx.err(`${p.stage} DLQ ${p.url}: ~${p.approximate} message(s) to move to ${p.destinationArn} with StartMessageMoveTask.`);
    if (p.envelopes)
      ctx.err(
        `  ${p.envelopes} of ${p.sampled} sampled message(s) are failure envelopes: SQS moves them as they are and the ${p.stage} function ` +
          'processes the original messages inside. Use plain `replay` (without --native) to choose a subset or to preview with --dry-run.',
      );
  }
  if (args.dryRun && args.json) ctx.json({ dryRun: true, native: true, queues: plans });
  if (args.dryRun) return EXIT.ok;
  const results = [];
  // Resolves true when Ctrl-C ends the wait: stop watching, the task goes on.
  const stopped = () => sleep(Number(ctx.io.env.DLQ_NATIVE_POLL_MS ?? 2000), false, { signal: ctx.io.signal }).catch(() => true);
  for (const p of plans) {
    const rate = args.rate > 0 ? { MaxNumberOfMessagesPerSecond: Math.max(1, Math.min(500, Math.floor(args.rate))) } : {};
    const start = new StartMessageMoveTaskCommand({ SourceArn: p.arn, DestinationArn: p.destinationArn, ...rate });
    const taskHandle = (await holder.call(p.url, ctx.sqs.send(start))).TaskHandle ?? '';
    const poll = async () => {
      const list = await holder.call(p.url, ctx.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: p.arn, MaxResults: 10 })));
      const t = list.Results?.find((r) => r.TaskHandle === taskHandle) ?? list.Results?.[0];
      const [moved, of, why] = [t?.ApproximateNumberOfMessagesMoved ?? 0, t?.ApproximateNumberOfMessagesToMove ?? '?', t?.FailureReason];
      if (t) ctx.err(`${p.stage}: ${t.Status ?? '?'}  moved ${moved}/${of}${why ? `  (${why})` : ''}`);
      return t;
    };
    let [t, detached] = [await poll(), false];
    while (!['COMPLETED', 'CANCELLED', 'FAILED'].includes(t?.Status ?? '') && !(detached = await stopped())) t = await poll();
    const { Status: status, ApproximateNumberOfMessagesMoved: moved, FailureReason: failureReason } = t ?? {};
    results.push({ stage: p.stage, url: p.url, taskHandle, status, moved, failureReason, detached });
    if (detached) {
      ctx.err(
        `Stopped watching; the move task goes on in AWS. Cancel it with: aws sqs cancel-message-move-task --task-handle '${taskHandle}'`,
      );
      break;
    }
  }
  if (args.json) ctx.json({ native: true, tasks: results });
  for (const r of args.json ? [] : results) {
    const moved = r.moved !== undefined ? `, ${r.moved} message(s) moved` : '';
    ctx.out(`${r.stage} DLQ: move task ${r.status ?? 'running'}${moved}${r.failureReason ? ` (${r.failureReason})` : ''}.`);
  }
  if (results.some((r) => r.detached)) return EXIT.interrupted;
  return results.every((r) => r.status === 'COMPLETED') ? EXIT.ok : EXIT.failed;
}
