/** The send tool's command line: one option table for parsing and --help (cli/args.ts). */
import { helpText, parseCommandLine, UsageError, type OptionTable } from '../args.ts';

export const OPTIONS = {
  help: { type: 'boolean', short: 'h', description: 'this help' },
  stack: {
    type: 'string',
    valueName: 'NAME',
    description: 'the stack whose EventBusName output names the bus (or IngressQueueUrl, with --queue)',
  },
  bus: { type: 'string', valueName: 'NAME', description: 'the event bus (name or ARN); wins over --stack' },
  'queue-url': { type: 'string', valueName: 'URL', description: 'send to this SQS ingress queue instead of the bus' },
  queue: { type: 'boolean', description: "with --stack: send to the stack's ingress queue (IngressQueueUrl) instead of its bus" },
  'endpoint-url': { type: 'string', valueName: 'URL', description: 'EventBridge (or SQS) endpoint, e.g. a local stand-in' },
  region: { type: 'string', valueName: 'REGION', description: 'AWS region (default: AWS_REGION / your profile)' },
  'dry-run': { type: 'boolean', description: 'read and check the files, show what would be sent; send nothing' },
} as const satisfies OptionTable;

export interface SendArgs {
  help: boolean;
  files: string[];
  stack?: string | undefined;
  bus?: string | undefined;
  queueUrl?: string | undefined;
  queue: boolean;
  endpointUrl?: string | undefined;
  region?: string | undefined;
  dryRun: boolean;
}

export function parseSendArgs(argv: readonly string[]): SendArgs {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  const args: SendArgs = {
    help: values.help === true,
    files: positionals,
    stack: values.stack,
    bus: values.bus,
    queueUrl: values['queue-url'],
    queue: values.queue === true,
    endpointUrl: values['endpoint-url'],
    region: values.region,
    dryRun: values['dry-run'] === true,
  };
  if (args.help) return args;
  if (!args.files.length) throw new UsageError('no event files given');
  for (const [flag, v] of [
    ['--queue-url', args.queueUrl],
    ['--endpoint-url', args.endpointUrl],
  ] as const) {
    if (v === undefined) continue;
    let u: URL | undefined;
    try {
      u = new URL(v);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw new UsageError(`${flag} must be an http(s) URL (got "${v}")`);
  }
  if (args.queueUrl !== undefined && args.bus !== undefined) throw new UsageError('--bus and --queue-url name two destinations; give one');
  if (args.queue && !args.stack)
    throw new UsageError('--queue takes the ingress queue from --stack; without a stack, pass --queue-url URL');
  if (!args.stack && args.bus === undefined && args.queueUrl === undefined) {
    throw new UsageError('no destination: pass --stack NAME, --bus NAME or --queue-url URL');
  }
  return args;
}

export const HELP = helpText({
  usage: 'npm run send -- FILES... [--stack NAME] [--bus NAME] [--queue-url URL] [--endpoint-url URL] [--dry-run]',
  description: [
    'Puts events on a deployed pipeline: EventBridge PutEvents on its bus (batches of 10, failed entries',
    'retried with backoff), or, with --queue-url (or --stack with --queue), SQS SendMessageBatch on its',
    'ingress queue. A file holds one EventBridge envelope or an array of them; a directory is read for',
    '*.json. Each envelope needs source, detail-type and detail (an object); time is kept. Every file is',
    'read and checked before anything is sent.',
  ].join('\n'),
  options: OPTIONS,
  sections: [
    {
      title: 'Notes',
      lines: [
        "PutEvents cannot set an event's id: EventBridge assigns a new one to each event, so the ids in",
        'your files are not kept on the bus path (the queue path sends the envelopes as they are).',
        'EventBridge accepts events for a bus that does not exist and drops them: check the bus name.',
        'An event over 256 KiB is refused, with its file and position.',
      ],
    },
    {
      title: 'Exit codes',
      lines: ['0 every event sent, 1 some failed (the summary says which and why), 2 bad input or environment.'],
    },
  ],
});
