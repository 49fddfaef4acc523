/**
 * Reads a fauxqs queue of this process without receiving from it (no receive count, no visibility
 * change), for reporting DLQ contents. fauxqs does not export its store, so this wraps its
 * SqsStore.prototype.createQueue (the module instance local/standins/sqs.ts loads) to remember which
 * store created which queue. Call captureFauxqsStores() before the queues are created.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The parts of fauxqs 2.x's (unexported) message and queue this module reads. */
export interface FauxqsMessage {
  messageId: string;
  body: string;
  messageAttributes: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }>;
  sentTimestamp: number;
  approximateReceiveCount: number;
  messageGroupId?: string;
  sequenceNumber?: string;
}
interface FauxqsQueue {
  url: string;
  inspectMessages(): { ready: FauxqsMessage[]; delayed: FauxqsMessage[]; inflight: { message: FauxqsMessage }[] };
}
interface FauxqsStore {
  getQueue(url: string): FauxqsQueue | undefined;
}

const stores = new Map<string, FauxqsStore>();
let installed: Promise<void> | undefined;

function storeModulePath(): string {
  for (const d of createRequire(import.meta.url).resolve.paths('fauxqs') ?? []) {
    const p = join(d, 'fauxqs', 'dist', 'sqs', 'sqsStore.js');
    if (existsSync(p)) return p;
  }
  throw new Error('fauxqs is not installed (node_modules/fauxqs/dist/sqs/sqsStore.js not found)');
}

/** Idempotent: from now on, remember the store of every queue created in this process. */
export function captureFauxqsStores(): Promise<void> {
  installed ??= (async () => {
    const mod = (await import(pathToFileURL(storeModulePath()).href)) as {
      SqsStore?: { prototype: { createQueue: (this: FauxqsStore, ...args: unknown[]) => FauxqsQueue } };
    };
    const proto = mod.SqsStore?.prototype;
    if (typeof proto?.createQueue !== 'function') throw new Error('fauxqs internals changed: SqsStore.prototype.createQueue not found');
    const createQueue = proto.createQueue;
    proto.createQueue = function (this: FauxqsStore, ...args: unknown[]) {
      const q = createQueue.apply(this, args);
      stores.set(q.url, this);
      return q;
    };
  })();
  return installed;
}

/**
 * Every message of the queue (ready, in flight, delayed), oldest first, untouched. Undefined when
 * the queue was not created in this process after captureFauxqsStores().
 */
export function peekQueue(queueUrl: string): FauxqsMessage[] | undefined {
  const q = stores.get(queueUrl)?.getQueue(queueUrl);
  if (!q) return undefined;
  const m = q.inspectMessages();
  return [...m.ready, ...m.inflight.map((e) => e.message), ...m.delayed].sort(
    (a, b) => a.sentTimestamp - b.sentTimestamp || (a.sequenceNumber ?? '').localeCompare(b.sequenceNumber ?? ''),
  );
}
