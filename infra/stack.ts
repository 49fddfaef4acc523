/** The deployable stack: one NangoMetadataSync per stage, its event bus, and outputs the CLI reads. */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { type CatalogModule, NangoMetadataSync, type NangoMetadataSyncProps } from './construct/index.ts';
import { OutputKeys, replayCommand } from './outputs.ts';

/** An IAM role or user: what a request's aws:PrincipalArn holds (a role's sessions carry the role's ARN). */
const IAM_ARN_RE = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/;

export interface NangoMetadataSyncStackProps extends StackProps {
  /** Stage name (dev, prod, ...): names the service dimension, the dashboard and the bus it creates. */
  readonly stage: string;
  /** Name of an existing bus to listen on, or of the bus to create. @default the default bus, or `nango-metadata-sync-<stage>` when created */
  readonly eventBusName?: string;
  /** Create the event bus instead of using an existing one. @default false */
  readonly createEventBus?: boolean;
  /**
   * Role or user ARNs that SendMessage events straight to the ingress queue. The queues refuse every
   * other sender, so a producer not listed here (or granted with `grantSend`) is denied. @default none
   */
  readonly producerArns?: readonly string[];
  /** Role or user ARNs of operators running the DLQ tool: read, replay (and SQS's move back). @default none */
  readonly operatorArns?: readonly string[];
  /**
   * Role or user ARNs that may also purge both DLQs. PurgeQueue deletes every message, the only copy
   * of failed work: granted apart from replay, to fewer people. @default none
   */
  readonly purgerArns?: readonly string[];
  /** The catalog module (see the construct's `catalog`). */
  readonly catalog: CatalogModule;
  /** Everything else goes to the construct unchanged (its eventBus and catalog are set here). */
  readonly sync?: Omit<NangoMetadataSyncProps, 'eventBus' | 'catalog'>;
}

export class NangoMetadataSyncStack extends Stack {
  readonly sync: NangoMetadataSync;

  constructor(scope: Construct, id: string, props: NangoMetadataSyncStackProps) {
    super(scope, id, props);
    if (!/^[A-Za-z0-9-]{1,32}$/.test(props.stage)) {
      throw new Error(`stage must be 1-32 letters, digits or '-' (got "${props.stage}")`);
    }
    const badArns = [...(props.producerArns ?? []), ...(props.operatorArns ?? []), ...(props.purgerArns ?? [])].filter(
      (a) => !IAM_ARN_RE.test(a),
    );
    if (badArns.length > 0) {
      throw new Error(
        `producerArns, operatorArns and purgerArns must be IAM role or user ARNs (got ${badArns.map((a) => `"${a}"`).join(', ')})`,
      );
    }
    let eventBus: events.IEventBus | undefined;
    if (props.createEventBus) {
      eventBus = new events.EventBus(this, 'EventBus', { eventBusName: props.eventBusName ?? `nango-metadata-sync-${props.stage}` });
    } else if (props.eventBusName && props.eventBusName !== 'default') {
      eventBus = events.EventBus.fromEventBusName(this, 'EventBus', props.eventBusName);
    }

    this.sync = new NangoMetadataSync(this, 'Sync', {
      serviceName: `nango-metadata-sync-${props.stage}`,
      dashboardName: `nango-metadata-sync-${props.stage}`,
      ...props.sync,
      catalog: props.catalog,
      eventBus,
    });

    for (const arn of props.producerArns ?? []) this.sync.grantSend(new iam.ArnPrincipal(arn));
    for (const arn of props.operatorArns ?? []) this.sync.grantReplay(new iam.ArnPrincipal(arn));
    for (const arn of props.purgerArns ?? []) this.sync.grantPurge(new iam.ArnPrincipal(arn));

    // Fixed output keys (stack-level ids give stable logical ids): the CLI finds resources by them.
    const s = this.sync;
    const out = (key: string, value: string, description: string) => new CfnOutput(this, key, { value, description });
    out(OutputKeys.IngressQueueUrl, s.ingressQueue.queueUrl, 'Ingress queue: producers may also SendMessage events here');
    out(OutputKeys.IngressDlqUrl, s.ingressDlq.queueUrl, 'Route failures and undeliverable events');
    out(OutputKeys.SyncQueueUrl, s.syncQueue.queueUrl, 'Sync FIFO queue (group = connection)');
    out(OutputKeys.SyncDlqUrl, s.syncDlq.queueUrl, 'Apply failures, with Nango errors');
    out(OutputKeys.StateTableName, s.stateTable.tableName, 'State table (desired and applied state, connection index)');
    out(OutputKeys.WebhookUrl, s.webhookEndpoint, "Register as the Nango environment's webhook URL (it ends with the secret path token)");
    out(OutputKeys.WebhookSecretArn, s.webhookSecret.secretArn, "Secret holding Nango's webhook signing key (fill with put-secret-value)");
    out(OutputKeys.SecretArn, s.secret.secretArn, 'Secret holding the Nango secret key (fill with put-secret-value)');
    out(OutputKeys.RouteFunctionName, s.routeFunction.functionName, 'Route function');
    out(OutputKeys.ApplyFunctionName, s.applyFunction.functionName, 'Apply function');
    out(OutputKeys.WebhookFunctionName, s.webhookFunction.functionName, 'Webhook function');
    out(OutputKeys.ReconcileFunctionName, s.reconcileFunction.functionName, 'Reconcile function (scheduled, or run by the CLI)');
    out(OutputKeys.EventBusName, s.eventBus.eventBusName, 'Event bus the rule listens on');
    out(OutputKeys.EventRuleName, s.rule.ruleName, 'Rule whose pattern comes from the event catalog');
    out(OutputKeys.AlarmTopicArn, s.alarmTopic.topicArn, 'SNS topic of the alarms');
    out(OutputKeys.DashboardName, s.dashboard.dashboardName, 'CloudWatch dashboard');
    out(OutputKeys.ReplayCommand, replayCommand(this.stackName), 'Inspect and replay DLQ messages (drop --dry-run to send)');
  }
}
