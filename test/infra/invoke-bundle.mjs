// Runs a Lambda handler from a built bundle the way the Node.js runtime does: a fresh process, a
// native ESM import of the .mjs, async handler calls. Events come as JSON on stdin; each result is
// printed on a line starting with RESULT_MARK so the handler's own (JSON) logs can share stdout.
// With no events it only imports the bundle and reports the type of its `handler` export; with
// IMPORT_CHUNKS=1 it then imports every chunk beside it (what later dynamic imports load) and reports how many.
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const RESULT_MARK = '@@invoke-result@@ ';
const IMPORTED_MARK = '@@imported@@ ';
const [bundle, functionName, timeoutMs] = process.argv.slice(2);

let input = '';
for await (const chunk of process.stdin) input += chunk;
const events = JSON.parse(input || '[]');

const mod = await import(pathToFileURL(bundle).href);
process.stdout.write(`${IMPORTED_MARK}${typeof mod.handler}\n`);
// Whether the import loaded Node's internal undici (what an ES import of node:http does).
process.stdout.write(`@@node-undici@@ ${process.moduleLoadList.some((m) => m.includes('internal/deps/undici'))}\n`);
if (typeof mod.handler !== 'function') throw new Error(`${bundle} exports no handler`);
if (process.env.IMPORT_CHUNKS === '1') {
  const dir = join(dirname(bundle), 'chunks');
  const chunks = readdirSync(dir).filter((f) => f.endsWith('.mjs'));
  for (const f of chunks) await import(pathToFileURL(join(dir, f)).href);
  process.stdout.write(`@@chunks@@ ${chunks.length}\n`);
}

for (const event of events) {
  const deadline = Date.now() + Number(timeoutMs);
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'bundle-test',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  const result = await mod.handler(event, context);
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result ?? null)}\n`);
}
// Lambda freezes the process after the last invocation; keep-alive sockets must not hold this one open.
process.stdout.write('', () => process.exit(0));
