/**
 * The peers in the same harness as ours: the same backlog, the same Nango stand-in (latency, race
 * mode), the same kind of queue and event source.
 *
 * - the official SDK consumer (sdk-consumer.ts), sequential or parallel;
 * - a MODEL of an EventBridge API destination: not AWS code, a loop that does what one does, one HTTP
 *   call per event and connection at a static invocation rate, none waiting for another, no order,
 *   no versions. Charitable: it is handed each event's connections (an API destination cannot list them).
 */
import { randomUUID } from 'node:crypto';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { request } from 'undici';
import { startEventSource } from '../../local/event-source.ts';
import { startNangoStandin } from '../../local/standins/nango.ts';
import { startLocalSqs } from '../../local/standins/sqs.ts';
import { waitUntilDrained } from '../../local/event-source.ts';
import { checkFinalState, connectionKey, connectionsOf, type DatasetOptions, foldByVersion, makeDataset, mapEvent } from '../dataset.ts';
import { lastAnswer, nangoCalls } from '../nango-calls.ts';
import type { StandinShape } from '../ours.ts';
import { createSdkConsumer, type PeerMode } from './sdk-consumer.ts';

export interface PeerRun {
  peer: PeerMode | 'api-destination-model';
  dataset: Partial<DatasetOptions>;
  /** The first n events of the backlog (arrival order): the slow peers run on a sample. */
  eventLimit?: number;
  nango: StandinShape;
  /** SDK consumer: its event source; model: its invocation rate. */
  batchSize?: number;
  concurrency?: number;
  ratePerSecond?: number;
  timeoutMs: number;
}

export async function runPeer(o: PeerRun) {
  const data = makeDataset(o.dataset);
  const events = o.eventLimit ? data.events.slice(0, o.eventLimit) : data.events;
  const pairsOf = events.map((e) => ({ e, m: mapEvent(e), cs: connectionsOf(mapEvent(e), data.connections) }));
  const touchedKeys = new Set(pairsOf.flatMap((x) => x.cs.map((c) => connectionKey(c.connectionId, c.providerConfigKey))));
  const touched = data.connections.filter((c) => touchedKeys.has(connectionKey(c.connectionId, c.providerConfigKey)));
  const secretKey = randomUUID();
  const nango = await startNangoStandin({
    secretKey,
    connections: data.connections,
    latencyMs: o.nango.latencyMs,
    raceMode: true,
    raceDelayMs: o.nango.raceDelayMs,
    ...(o.nango.rateLimit ? { rateLimit: o.nango.rateLimit } : {}),
  });
  const stops: (() => Promise<unknown>)[] = [() => nango.close()];
  try {
    let t0: number;
    let modelFailures: number | undefined;
    if (o.peer === 'api-destination-model') {
      const rate = o.ratePerSecond ?? 300;
      const inflight: Promise<unknown>[] = [];
      let n = 0;
      let failed = 0;
      t0 = Date.now();
      for (const { m, cs } of pairsOf) {
        for (const c of cs) {
          const due = t0 + (n++ * 1000) / rate;
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
          inflight.push(
            request(`${nango.url}/connections/metadata`, {
              method: 'PATCH',
              headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
              body: JSON.stringify({ connection_id: c.connectionId, provider_config_key: c.providerConfigKey, metadata: m.patch }),
            }).then(
              (r) => r.body.dump(),
              // An API destination would retry these; the model counts them.
              () => void failed++,
            ),
          );
        }
      }
      await Promise.allSettled(inflight);
      modelFailures = failed;
    } else {
      const sqsLocal = await startLocalSqs();
      stops.push(() => sqsLocal.close());
      const queues = await sqsLocal.createPipelineQueues({ ingressVisibilitySeconds: 60 });
      const sqs = sqsLocal.client();
      process.env.NANGO_HOST = nango.url;
      process.env.NANGO_SECRET_KEY = secretKey;
      const consumer = createSdkConsumer(o.peer);
      const source = await startEventSource({
        sqs,
        queueUrl: queues.ingressUrl,
        handler: (e) => consumer(e),
        functionName: `peer-sdk-${o.peer}`,
        batchSize: o.batchSize ?? 10,
        concurrency: o.concurrency ?? 1,
        functionTimeoutMs: 60_000,
      });
      stops.push(() => source.stop());
      t0 = Date.now();
      for (let i = 0; i < events.length; i += 10) {
        const chunk = events.slice(i, i + 10);
        await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queues.ingressUrl,
            Entries: chunk.map((e, j) => ({ Id: String(j), MessageBody: JSON.stringify(e) })),
          }),
        );
      }
      await waitUntilDrained(sqs, [queues.ingressUrl], { timeoutMs: o.timeoutMs, quietMs: 500 });
    }
    const wallMs = lastAnswer(nango.requests, t0) - t0;
    const calls = nangoCalls(nango.requests, t0);
    const expected = foldByVersion(data.connections, events);
    return {
      peer: o.peer,
      events: events.length,
      sampleOf: data.events.length,
      touched: touched.length,
      pairs: pairsOf.reduce((s, x) => s + x.cs.length, 0),
      wallMs,
      eventsPerSecond: events.length / (wallMs / 1000),
      calls,
      callsPerTouched: calls.total / touched.length,
      final: checkFinalState(touched, expected, (id, k) => nango.metadataOf(id, k)),
      stats: nango.stats(),
      ...(modelFailures !== undefined ? { modelFailures } : {}),
    };
  } finally {
    delete process.env.NANGO_SECRET_KEY;
    for (const s of stops.reverse()) await s().catch(() => {});
  }
}

export type PeerResult = Awaited<ReturnType<typeof runPeer>>;
