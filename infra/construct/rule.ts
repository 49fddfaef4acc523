/** The EventBridge rule: catalog events on the bus go to the ingress queue; undeliverable ones to its DLQ. */
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type CatalogEventPattern, catalogEventPattern } from '../event-pattern.ts';
import type { Resolved } from './validate-props.ts';

export interface IngressRule {
  readonly rule: events.Rule;
  readonly eventPattern: CatalogEventPattern;
}

export function createIngressRule(
  scope: Construct,
  cfg: Resolved,
  o: { eventBus: events.IEventBus; ingress: sqs.IQueue; deadLetterQueue: sqs.IQueue },
): IngressRule {
  const eventPattern = catalogEventPattern(cfg.catalog);
  const rule = new events.Rule(scope, 'Rule', {
    eventBus: o.eventBus,
    enabled: cfg.rule.enabled,
    description: 'Catalog events to the Nango metadata sync ingress queue',
    // The L2 type cannot express `$or`; the exact pattern is set on the L1 below.
    eventPattern: { source: [...new Set(cfg.catalog.map((e) => e.source))].sort() },
  });
  (rule.node.defaultChild as events.CfnRule).eventPattern = eventPattern;
  rule.addTarget(
    new targets.SqsQueue(o.ingress, {
      retryAttempts: cfg.rule.retryAttempts,
      maxEventAge: cfg.rule.maxEventAge,
      deadLetterQueue: o.deadLetterQueue,
    }),
  );
  return { rule, eventPattern };
}
