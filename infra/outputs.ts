/**
 * CloudFormation output keys of the stack: a contract with the DLQ tool, which finds queue URLs by
 * stack name. Kept free of CDK imports so the CLI can import it cheaply.
 */
export const OutputKeys = {
  IngressQueueUrl: 'IngressQueueUrl',
  IngressDlqUrl: 'IngressDlqUrl',
  PatchesQueueUrl: 'PatchesQueueUrl',
  PatchesDlqUrl: 'PatchesDlqUrl',
  RouteFunctionName: 'RouteFunctionName',
  ApplyFunctionName: 'ApplyFunctionName',
  EventBusName: 'EventBusName',
  EventRuleName: 'EventRuleName',
  SecretArn: 'SecretArn',
  AlarmTopicArn: 'AlarmTopicArn',
  DashboardName: 'DashboardName',
  ReplayCommand: 'ReplayCommand',
} as const;

export type OutputKey = (typeof OutputKeys)[keyof typeof OutputKeys];

/** What an operator runs to put DLQ messages back once the cause is fixed. */
export const replayCommand = (stackName: string): string => `npm run dlq -- replay --stack ${stackName} --dry-run`;
