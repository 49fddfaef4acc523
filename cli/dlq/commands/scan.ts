/**
 * Reading the chosen DLQs into DlqItems, with a per-queue report of what was and was not reached,
 * and the JSON form of an item (shared by list, inspect and replay --json).
 */
import type { Stage } from '#commons/dlq-envelope';
import { classify } from '../classify.ts';
import type { Context } from '../context.ts';
import { safe } from '../format.ts';
import type { Holder } from '../holder.ts';
import type { DlqItem } from '../model.ts';
import { isFifoUrl } from '../queues.ts';

export interface QueueReport {
  stage: Stage;
  url: string;
  fifo: boolean;
  /** Messages in the queue before the scan (visible + hidden + delayed), as SQS reports it. */
  approximateTotal: number;
  scanned: number;
  /** Visible after the scan but not received: queued behind held FIFO messages, or new arrivals. */
  notReached: number;
  scanLimitReached: boolean;
}

export async function scanDlqs(
  ctx: Context,
  holder: Holder,
  dlqs: readonly { stage: Stage; url: string }[],
): Promise<{ items: DlqItem[]; reports: QueueReport[] }> {
  const items: DlqItem[] = [];
  const reports: QueueReport[] = [];
  for (const { stage, url } of dlqs) {
    const r = await holder.scan(url, ctx.args.read);
    items.push(...r.messages.map((m) => classify(m, stage)));
    reports.push({
      stage,
      url,
      fifo: isFifoUrl(url),
      approximateTotal: r.approximateTotal,
      scanned: r.messages.length,
      notReached: r.notReached,
      scanLimitReached: r.scanLimitReached,
    });
  }
  return { items, reports };
}

export function renderReports(reports: readonly QueueReport[]): string {
  return reports
    .map((r) => {
      let line = `${r.stage} DLQ ${safe(r.url, 200)}: read ${r.scanned} message(s)`;
      if (r.scanLimitReached) line += `; stopped at --scan-limit, ~${Math.max(0, r.approximateTotal - r.scanned)} not read`;
      if (r.notReached > 0) {
        line += r.fifo
          ? `; ~${r.notReached} more wait behind these in their FIFO message groups (SQS hands a group out in order only; replay reaches them once the ones ahead are replayed)`
          : `; ~${r.notReached} arrived or became visible during the scan`;
      }
      return line;
    })
    .join('\n');
}

/** The JSON view of an item; `full` adds the envelope, the raw body and what replay would send. */
export function itemJson(i: DlqItem, full: boolean): Record<string, unknown> {
  return {
    messageId: i.messageId,
    stage: i.stage,
    dlqStage: i.dlqStage,
    kind: i.kind,
    errorCode: i.errorCode,
    errorMessage: i.errorMessage,
    status: i.status,
    retryable: i.retryable,
    eventType: i.eventType,
    eventSource: i.eventSource,
    eventIds: i.eventIds,
    connectionId: i.connectionId,
    providerConfigKey: i.providerConfigKey,
    failedAt: i.failedAt.toISOString(),
    attempts: i.attempts,
    dlqReceiveCount: i.dlqReceiveCount,
    patch: i.patch,
    replayable: i.replay.ok,
    ...(i.replay.ok ? {} : { notReplayableReason: i.replay.reason }),
    ...(full
      ? {
          envelope: i.envelope,
          ...(i.envelope ? {} : { body: i.body }),
          messageAttributes: i.held.messageAttributes,
          replayMessages: i.replay.ok ? i.replay.messages : [],
        }
      : {}),
  };
}
