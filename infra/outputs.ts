/**
 * CloudFormation output keys of the stack: a contract with the CLI (DLQ tool, reconcile), which finds
 * the stack's resources by these keys. Keep the names stable. Kept free of CDK imports so the CLI can
 * import it cheaply.
 */
export const OutputKeys = {
  /** Ingress queue: producers may SendMessage events here (after grantSend). */
  IngressQueueUrl: 'IngressQueueUrl',
  /** Route failures and undeliverable events. */
  IngressDlqUrl: 'IngressDlqUrl',
  /** sync.fifo: one message group per connection. */
  SyncQueueUrl: 'SyncQueueUrl',
  /** Apply failures, with Nango's error. */
  SyncDlqUrl: 'SyncDlqUrl',
  /** DynamoDB state table: desired state, applied state, connection index. */
  StateTableName: 'StateTableName',
  /** The URL to register as the Nango environment's webhook URL, path token included. */
  WebhookUrl: 'WebhookUrl',
  /** Secret holding Nango's webhook signing key. */
  WebhookSecretArn: 'WebhookSecretArn',
  /** Secret holding the Nango secret key. */
  SecretArn: 'SecretArn',
  RouteFunctionName: 'RouteFunctionName',
  ApplyFunctionName: 'ApplyFunctionName',
  WebhookFunctionName: 'WebhookFunctionName',
  /** Always output: the CLI may invoke reconcile even when it has no schedule. */
  ReconcileFunctionName: 'ReconcileFunctionName',
  EventBusName: 'EventBusName',
  EventRuleName: 'EventRuleName',
  AlarmTopicArn: 'AlarmTopicArn',
  DashboardName: 'DashboardName',
  ReplayCommand: 'ReplayCommand',
} as const;

export type OutputKey = (typeof OutputKeys)[keyof typeof OutputKeys];

/** What an operator runs to put DLQ messages back once the cause is fixed. */
export const replayCommand = (stackName: string): string => `npm run dlq -- replay --stack ${stackName} --dry-run`;
