/**
 * The state table: desired state per subject, applied state per connection, the connection index.
 * One table, generic keys (`pk`, `sk`); no index, stream or TTL: every read is by key.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { Resolved } from './validate-props.ts';

export function createStateTable(scope: Construct, cfg: Resolved): dynamodb.Table {
  return new dynamodb.Table(scope, 'StateTable', {
    tableName: cfg.table.tableName,
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    // The AWS managed key (aws/dynamodb): encrypted with a KMS key whose use CloudTrail records, with
    // no key policy to keep and no KMS grant per function (DynamoDB uses it on the caller's behalf).
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    deletionProtection: cfg.table.deletionProtection,
    // The desired state is the one copy of what producers asked for: never deleted with the stack.
    removalPolicy: RemovalPolicy.RETAIN,
  });
}

export type TableAction = 'GetItem' | 'BatchGetItem' | 'Query' | 'PutItem' | 'UpdateItem' | 'DeleteItem';

/** Exactly these actions on the table itself (no index ARNs: the table has none). */
export function grantTable(table: dynamodb.ITable, grantee: iam.IGrantable, actions: readonly TableAction[]): iam.Grant {
  return iam.Grant.addToPrincipal({ grantee, actions: actions.map((a) => `dynamodb:${a}`), resourceArns: [table.tableArn] });
}
