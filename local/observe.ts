/**
 * What the local pipeline lets a report or a test see without receiving anything: the DLQs' messages
 * (read from fauxqs' store), and every sync message apply was handed, with its fate.
 */
import { parseEnvelope, type DlqEnvelope } from '#commons/dlq-envelope';
import type { NangoPort } from '#commons/nango/port';
import { type SyncMessage, syncMessageSchema } from '#commons/sync/message';
import type { InvocationResult } from './event-source.ts';
import { peekQueue } from './fauxqs-store.ts';
import type { PipelineQueues } from './standins/sqs.ts';

/** One sync message as the apply stage saw it. */
export interface ObservedSync {
  messageId: string;
  body: string;
  /** Undefined when the body is not a valid sync message. */
  message?: SyncMessage;
  deliveries: number;
  /** Deleted from the sync queue after an invocation (applied, nothing to do, or parked by apply). */
  deleted: boolean;
}

export interface DlqMessage {
  queue: 'ingress-dlq' | 'sync-dlq';
  messageId: string;
  body: string;
  sentTimestamp: number;
  attributes: Record<string, string>;
  /** Undefined for a bare message SQS's redrive moved (or anything else that is not an envelope). */
  envelope?: DlqEnvelope;
}

export function syncObserver(): { observe(r: InvocationResult): void; syncs(): ObservedSync[] } {
  const observed = new Map<string, ObservedSync>();
  return {
    observe(r) {
      const deleted = new Set(r.deletedIds);
      for (const rec of r.records) {
        let p = observed.get(rec.messageId);
        if (!p) {
          let message: SyncMessage | undefined;
          try {
            const parsed = syncMessageSchema.safeParse(JSON.parse(rec.body));
            if (parsed.success) message = parsed.data;
          } catch {
            // not JSON: recorded without a message
          }
          p = { messageId: rec.messageId, body: rec.body, deliveries: 0, deleted: false, ...(message ? { message } : {}) };
          observed.set(rec.messageId, p);
        }
        p.deliveries++;
        if (deleted.has(rec.messageId)) p.deleted = true;
      }
    },
    syncs: () => [...observed.values()],
  };
}

/** Both DLQs' messages, oldest first, read without receiving them. */
export function readDlqs(queues: PipelineQueues): DlqMessage[] {
  const read = (url: string, queue: DlqMessage['queue']): DlqMessage[] => {
    const msgs = peekQueue(url);
    if (!msgs) throw new Error(`cannot inspect ${url}: not a fauxqs queue of this process`);
    return msgs.map((msg) => {
      const envelope = parseEnvelope(msg.body);
      const attributes: Record<string, string> = {};
      for (const [k, v] of Object.entries(msg.messageAttributes)) if (v.StringValue !== undefined) attributes[k] = v.StringValue;
      return {
        queue,
        messageId: msg.messageId,
        body: msg.body,
        sentTimestamp: msg.sentTimestamp,
        attributes,
        ...(envelope ? { envelope } : {}),
      };
    });
  };
  return [...read(queues.ingressDlqUrl, 'ingress-dlq'), ...read(queues.syncDlqUrl, 'sync-dlq')];
}

/** A real Nango's view of one connection, from the list endpoint (never GET /connections/{id}, which returns and may refresh credentials). */
export async function metadataFromNango(nango: Pick<NangoPort, 'listConnections'>, connectionId: string, providerConfigKey: string) {
  // The functions' own client: the list endpoint, filtered, its answer checked against the filter.
  const [c] = await nango.listConnections(
    { connectionId, integrationIds: [providerConfigKey] },
    { limit: 10, page: 0 },
    { deadline: Date.now() + 10_000 },
  );
  return c ? c.metadata : undefined;
}

/** The `id` an event body names, if it names one. */
export function eventIdOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' && id ? id : undefined;
  } catch {
    return undefined;
  }
}
