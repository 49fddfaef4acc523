// A fresh `node` process (no TypeScript loader, so nothing but the bundle is timed): imports one
// bundle and invokes its handler, in one of three modes, then writes what it measured to a file.
//   cold:   time to import, time of the first invocation (performance.now() counts from process start)
//   cpu:    a warm-up invocation, then process.cpuUsage() around each measured handler call
//   memory: baseline after import (after a GC), then the peak RSS / heap while one batch runs
// Usage: node [--expose-gc] bench/child.mjs <job.json>
// job: { mode, bundle, out, warmup?: SQSEvent, events: SQSEvent[], profileOut?: path (cpu mode) }
import { readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function context(name) {
  const deadline = Date.now() + 60_000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function failures(res) {
  return res && Array.isArray(res.batchItemFailures) ? res.batchItemFailures.length : 0;
}

const out = { mode: job.mode, bundle: job.bundle };
if (job.mode === 'cold') {
  const t0 = performance.now();
  const mod = await import(pathToFileURL(job.bundle).href);
  const t1 = performance.now();
  const res = await mod.handler(job.events[0], context('cold'));
  const t2 = performance.now();
  Object.assign(out, { bootMs: t0, importMs: t1 - t0, invokeMs: t2 - t1, totalMs: t2, failures: failures(res) });
} else if (job.mode === 'cpu') {
  const mod = await import(pathToFileURL(job.bundle).href);
  let f = failures(await mod.handler(job.warmup, context('cpu')));
  let userUs = 0;
  let systemUs = 0;
  let records = 0;
  // Optional: profile only the measured calls (after import and warm-up).
  const session = job.profileOut ? new (await import('node:inspector')).Session() : undefined;
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  if (session) {
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 100 });
    await post('Profiler.start');
  }
  const started = performance.now();
  for (const event of job.events) {
    const before = process.cpuUsage();
    const res = await mod.handler(event, context('cpu'));
    const d = process.cpuUsage(before);
    userUs += d.user;
    systemUs += d.system;
    records += event.Records.length;
    f += failures(res);
  }
  if (session) writeFileSync(job.profileOut, JSON.stringify((await post('Profiler.stop')).profile));
  Object.assign(out, {
    invocations: job.events.length,
    records,
    userUs,
    systemUs,
    usPerRecord: (userUs + systemUs) / records,
    wallMs: performance.now() - started,
    failures: f,
  });
} else if (job.mode === 'memory') {
  const mod = await import(pathToFileURL(job.bundle).href);
  globalThis.gc?.();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > peakRss) peakRss = m.rss;
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
  };
  const timer = setInterval(sample, 1);
  const res = await mod.handler(job.events[0], context('memory'));
  sample();
  clearInterval(timer);
  Object.assign(out, {
    records: job.events[0].Records.length,
    baseRss: base.rss,
    baseHeap: base.heapUsed,
    peakRss,
    peakHeap,
    rssDelta: peakRss - base.rss,
    heapDelta: peakHeap - base.heapUsed,
    maxRssKb: process.resourceUsage().maxRSS,
    failures: failures(res),
  });
} else {
  throw new Error(`unknown mode ${job.mode}`);
}
writeFileSync(job.out, JSON.stringify(out));
// Keep-alive sockets (undici, the SDK) would hold the process open.
process.exit(0);
