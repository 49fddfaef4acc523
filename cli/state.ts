/**
 * `npm run state`: what the state table holds for one subject, and a reset of one key. `show` prints
 * the desired keys (value, version, the event that set them), the subject's connection index, and
 * what each indexed connection was last sent; `reset` lets the next event for a key win whatever its
 * version (a key stuck at a version from the future) and makes each indexed connection receive the
 * key again on its next sync. All through the state store's port: no hand-written DynamoDB call.
 */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV } from '#commons/config';
import { FLOOR_ORDER, versionOf } from '#commons/domain/order';
import type { DesiredKey } from '#commons/domain/desired';
import { type NearMatch, nearMatches } from '#commons/domain/near-match';
import { redact } from '#commons/redact';
import { DynamoStateStore } from '#commons/state/dynamodb';
import type { StatePort } from '#commons/state/port';
import type { Target } from '#commons/sync/message';
import { OutputKeys } from '../infra/outputs.ts';
import { helpText, parseCommandLine, UsageError, type OptionTable } from './args.ts';
import { describeError } from './errors.ts';
import { compactJson, plural, stdoutOut, type Out } from './format.ts';
import { subjectArg } from './reconcile.ts';
import { findOutput, stackOutputs } from './stack-outputs.ts';

const OPTIONS = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  json: { type: 'boolean', description: 'print the result as JSON (for scripts)' },
  yes: { type: 'boolean', description: 'confirm a reset (it changes the state table)' },
  stack: { type: 'string', valueName: 'NAME', description: "read the state table's name from this stack's outputs" },
} satisfies OptionTable;

const HELP = helpText({
  usage: 'npm run state -- show SUBJECT [--json] [--stack NAME]\n       npm run state -- reset SUBJECT KEY --yes [--json] [--stack NAME]',
  description:
    "show: the subject's desired keys (value, version, the event that set each), its connection index,\n" +
    'and per indexed connection the version of each key it was last sent.\n' +
    'reset: the key keeps its value at the lowest order, so the next event for it wins whatever its\n' +
    'version, and each indexed connection forgets what it was sent for it, so its next sync sends it again.\n' +
    'SUBJECT: organization_id=acme (short for tags:organization_id=acme), tags:..., or connection:<id>.\n' +
    'The table: --stack, else STATE_TABLE_NAME.',
  options: OPTIONS,
  sections: [
    {
      title: 'Examples',
      lines: [
        'npm run state -- show organization_id=acme',
        'npm run state -- reset organization_id=acme plan --yes --stack NangoMetadataSync-prod',
      ],
    },
    {
      title: 'Exit status',
      lines: ['0 done', '1 the table could not be read or written, or reset found no such key', '2 bad command line or configuration'],
    },
  ],
});

interface Io {
  out?: Out;
  err?: Out;
  env?: NodeJS.ProcessEnv;
  /** The store to use instead of DynamoDB (tests). */
  state?: StatePort;
}

class ConfigError extends Error {}

export interface SubjectState {
  subject: string;
  keys: {
    key: string;
    scope: string;
    value: unknown;
    version: number;
    /** Set by `state reset`: the next event for the key wins. */
    reset: boolean;
    event: { id: string; detailType: string; time: string };
  }[];
  index: { connections: Target[]; fetchedAt: string | null } | null;
  connections: { connectionId: string; providerConfigKey: string; applied: Record<string, number> }[];
  /** The subject holds state but its index names no connection: nothing it holds reaches Nango. */
  noConnection: boolean;
  /** For such a subject: subjects holding state that equal it but for case, Unicode form or spaces, and their connections. */
  nearMatches?: (NearMatch & { connections: number })[];
}

export async function readSubjectState(state: StatePort, subject: string): Promise<SubjectState> {
  const [desired, index] = await Promise.all([state.readDesired(subject), state.readIndex(subject)]);
  const targets = index?.connections ?? [];
  const connections = await Promise.all(
    targets.map(async (t) => {
      const { keys } = await state.readApplied(t);
      const applied = Object.fromEntries(
        Object.entries(keys)
          .filter(([k]) => desired.some((d) => d.key === k))
          .map(([k, o]) => [k, versionOf(o)]),
      );
      return { connectionId: t.connectionId, providerConfigKey: t.providerConfigKey, applied };
    }),
  );
  const noConnection = desired.length > 0 && targets.length === 0;
  // A likely typo: another subject with state, equal but for case, Unicode form or spaces (one scan).
  const near = noConnection ? (nearMatches([subject], await state.subjectsWithState())[0]?.nearMatches ?? []) : undefined;
  const nearWithConnections = near
    ? await Promise.all(near.map(async (n) => ({ ...n, connections: (await state.readIndex(n.subject))?.connections.length ?? 0 })))
    : undefined;
  return {
    subject,
    keys: desired
      .map((d: DesiredKey) => ({
        key: d.key,
        scope: d.integrations === 'all' ? '*' : d.integrations.join(','),
        value: d.value,
        version: versionOf(d.order),
        reset: d.order === FLOOR_ORDER,
        event: { id: d.event.id, detailType: d.event.detailType, time: d.event.time },
      }))
      .sort((a, b) => a.key.localeCompare(b.key) || a.scope.localeCompare(b.scope)),
    index: index ? { connections: targets, fetchedAt: index.fetchedAt ? new Date(index.fetchedAt).toISOString() : null } : null,
    connections,
    noConnection,
    ...(nearWithConnections ? { nearMatches: nearWithConnections } : {}),
  };
}

async function tableName(stack: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  const outputs = stack ? await stackOutputs(stack, new CloudFormationClient({})) : [];
  const table = findOutput(outputs, OutputKeys.StateTableName) ?? env[ENV.STATE_TABLE_NAME];
  if (!table) throw new ConfigError('no state table: pass --stack or set STATE_TABLE_NAME');
  return table;
}

export async function main(argv: readonly string[], io: Io = {}): Promise<number> {
  const out = io.out ?? stdoutOut(process.stdout);
  const err = io.err ?? stdoutOut(process.stderr);
  const env = io.env ?? process.env;
  const fail = (message: string, code: number) => {
    err.write(`npm run state: ${redact(message)}\n`);
    return code;
  };
  let values: ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values'];
  let command: string;
  let subject: string;
  let key: string | undefined;
  try {
    const parsed = parseCommandLine(argv, OPTIONS);
    values = parsed.values;
    if (values.help) {
      out.write(HELP);
      return 0;
    }
    const [cmd, rawSubject, rawKey, ...extra] = parsed.positionals;
    if (cmd !== 'show' && cmd !== 'reset') throw new UsageError(`expected "show" or "reset" (got ${cmd ? `"${cmd}"` : 'nothing'})`);
    command = cmd;
    if (!rawSubject) throw new UsageError(`${cmd}: which subject? (e.g. organization_id=acme)`);
    subject = subjectArg(rawSubject);
    if (cmd === 'show' && rawKey !== undefined) throw new UsageError(`show takes one subject (got "${rawKey}" too)`);
    if (cmd === 'reset') {
      if (!rawKey) throw new UsageError('reset: which key? (e.g. reset organization_id=acme plan --yes)');
      if (!values.yes) throw new UsageError('reset changes the state table: pass --yes to confirm');
      key = rawKey;
    }
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  } catch (e) {
    if (e instanceof UsageError) return fail(`${e.message}\nRun "npm run state -- --help" for usage.`, 2);
    throw e;
  }
  try {
    const state = io.state ?? new DynamoStateStore(new DynamoDBClient({}), await tableName(values.stack, env));
    if (command === 'show') {
      const s = await readSubjectState(state, subject);
      out.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : renderShow(s));
      return 0;
    }
    const k = key!;
    const { scopes, keys } = await state.resetDesiredKey(subject, k);
    if (scopes === 0) return fail(`${subject} holds no key "${k}": nothing reset`, 1);
    const targets = (await state.readIndex(subject))?.connections ?? [];
    // Every key released with it too: the next event's order is below what each connection was sent.
    for (const t of targets) for (const released of keys) await state.forgetAppliedKey(t, released);
    const result = { subject, key: k, scopes, connections: targets.length };
    out.write(
      values.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : `Reset ${k} of ${subject} (${plural(scopes, 'scope')}): the next event for it wins whatever its version; ${plural(targets.length, 'indexed connection')} will be sent it again on their next sync.\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.message, 2);
    const described = describeError(e);
    return fail(described.message, described.exitCode);
  }
}

function renderShow(s: SubjectState): string {
  const lines = [`Subject ${s.subject}`];
  if (s.keys.length === 0) lines.push('  no desired keys');
  for (const k of s.keys)
    lines.push(
      `  ${k.key} [${k.scope}] = ${compactJson(k.value, 80)}  version ${k.version}${k.reset ? ' (reset: the next event wins)' : ''}  by ${k.event.detailType} ${k.event.id} at ${k.event.time}`,
    );
  if (!s.index) lines.push('Index: none (no listing or webhook has named a connection yet)');
  else
    lines.push(
      `Index: ${plural(s.index.connections.length, 'connection')}${s.index.fetchedAt ? `, listed from Nango at ${s.index.fetchedAt}` : ', from webhooks only'}`,
    );
  for (const c of s.connections) {
    const sent = Object.entries(c.applied).map(([k, v]) => `${k} ${v}`);
    lines.push(`  ${c.connectionId} / ${c.providerConfigKey}: ${sent.length ? `sent ${sent.join(', ')}` : 'sent nothing yet'}`);
  }
  if (s.noConnection)
    lines.push(
      'Warning: this subject holds state but no connection: nothing reaches Nango. Check the tag values at Nango (case, spaces, Unicode form); `npm run reconcile -- --dry-run` lists near matches among the connections.',
    );
  for (const n of s.nearMatches ?? [])
    lines.push(`  near match: ${n.subject} (differs by ${n.differsBy.join(' and ')}; ${plural(n.connections, 'connection')})`);
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
      process.stderr.write(`npm run state: ${redact(e.message)}\n`);
      process.exit(1);
    },
  );
}
