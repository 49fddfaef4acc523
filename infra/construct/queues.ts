/**
 * The four queues: ingress (standard) and sync.fifo, each with its DLQ; and who may send to them.
 * SSE-SQS rather than a KMS key: EventBridge can deliver to it without a key grant, and EventBridge's
 * KMS requests carry no aws:SourceArn, so a key policy for it could not be scoped to our rule.
 */
import { Lazy, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { Resolved } from './validate-props.ts';

export class PipelineQueues {
  readonly ingress: sqs.Queue;
  readonly ingressDlq: sqs.Queue;
  readonly sync: sqs.Queue;
  readonly syncDlq: sqs.Queue;
  private readonly senders = new Map<sqs.IQueue, string[]>();

  constructor(scope: Construct, cfg: Resolved) {
    const encrypted = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true } as const;
    const highThroughputFifo = {
      fifo: true,
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
    } as const;
    // DLQs hold the only copy of failed work: kept when the stack is deleted. The source queues hold
    // work in flight only, and a retained queue would block a redeploy under the same name.
    const dlq = { ...encrypted, retentionPeriod: cfg.dlqRetention, removalPolicy: RemovalPolicy.RETAIN };

    this.ingressDlq = new sqs.Queue(scope, 'IngressDlq', dlq);
    this.ingress = new sqs.Queue(scope, 'Ingress', {
      ...encrypted,
      retentionPeriod: cfg.ingress.retentionPeriod,
      visibilityTimeout: cfg.ingress.visibilityTimeout,
      deliveryDelay: cfg.ingress.deliveryDelay,
      deadLetterQueue: { queue: this.ingressDlq, maxReceiveCount: cfg.ingress.maxReceiveCount },
    });
    this.syncDlq = new sqs.Queue(scope, 'SyncDlq', { ...dlq, ...highThroughputFifo });
    this.sync = new sqs.Queue(scope, 'SyncQueue', {
      ...encrypted,
      ...highThroughputFifo,
      // The functions set a deduplication id per sync; the body is not the identity.
      contentBasedDeduplication: false,
      retentionPeriod: cfg.sync.retentionPeriod,
      visibilityTimeout: cfg.sync.visibilityTimeout,
      deliveryDelay: cfg.sync.deliveryDelay,
      deadLetterQueue: { queue: this.syncDlq, maxReceiveCount: cfg.sync.maxReceiveCount },
    });
    for (const q of [this.ingress, this.ingressDlq, this.sync, this.syncDlq]) this.senders.set(q, []);
    for (const q of [this.ingressDlq, this.syncDlq]) {
      Validations.of(q).acknowledge({
        id: 'Serverless-SQSRedrivePolicy',
        reason: 'This queue is itself a dead-letter queue; messages leave it only through the replay tool, never by another redrive.',
      });
    }
  }

  /**
   * Only listed principals (and, when given, one EventBridge rule) may send to `queue`: an explicit
   * Deny overrides any identity policy in the account, so a stray producer cannot inject syncs.
   * The list is read at synthesis, so principals allowed later (grantSend, grantReplay) count.
   */
  restrictSenders(queue: sqs.Queue, ruleArn?: string): void {
    const senders = this.sendersOf(queue);
    // A service principal has no aws:PrincipalArn (so the first test alone would deny it); the rule
    // is told apart by aws:SourceArn, which only AWS services set. An empty ARN list is left out.
    const arnNotEquals = Lazy.any({
      produce: () => {
        const arns = [...new Set(senders)];
        return { ...(arns.length > 0 ? { 'aws:PrincipalArn': arns } : {}), ...(ruleArn ? { 'aws:SourceArn': ruleArn } : {}) };
      },
    });
    queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyPipelineSenders',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['sqs:SendMessage'],
        resources: [queue.queueArn],
        conditions: { ArnNotEquals: arnNotEquals },
      }),
    );
  }

  /** Grants `grantee` sqs:SendMessage on `queue` in IAM and lets it past the queue's Deny. */
  allowSend(queue: sqs.Queue, grantee: iam.IGrantable): iam.Grant {
    this.sendersOf(queue).push(principalArn(grantee));
    return queue.grantSendMessages(grantee);
  }

  private sendersOf(queue: sqs.Queue): string[] {
    const senders = this.senders.get(queue);
    if (!senders) throw new Error(`${queue.node.path} is not one of the pipeline's queues`);
    return senders;
  }
}

/** The ARN a request of this principal carries as aws:PrincipalArn (a role's ARN for its sessions). */
function principalArn(grantee: iam.IGrantable): string {
  const principal = grantee.grantPrincipal;
  if (principal instanceof iam.Role) return principal.roleArn;
  const aws = principal.policyFragment.principalJson.AWS ?? [];
  if (aws.length !== 1) {
    throw new Error('grantSend/grantReplay need one IAM role or user (a principal with an ARN); service principals are not supported');
  }
  // A request from a role carries the role's ARN as aws:PrincipalArn, never the account's: excepting
  // `:root` from the Deny would let only the root user through, and every operator role would be refused.
  if (principal instanceof iam.AccountPrincipal || (!Token.isUnresolved(aws[0]!) && /:root$/.test(aws[0]!))) {
    throw new Error(
      "grantSend/grantReplay need one IAM role or user: an account principal (arn:...:root) would let only the root user past the queues' Deny, not the roles of that account",
    );
  }
  return aws[0]!;
}
