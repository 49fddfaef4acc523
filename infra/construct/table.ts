/**
 * The state table: desired state per subject, applied state per connection, the connection index,
 * membership and the sweep's runs.
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

/** The table's items by partition-key prefix: what each kind of item is keyed by. */
export const ITEM_PREFIXES = {
  /** `S#<subject>`: desired state (route writes; apply and reconcile read). */
  desired: 'S#',
  /** `I#<subject>`: the subject's connection index (sweep, route's fallback lookup, apply's removal on 404). */
  index: 'I#',
  /** `C#<connection digest>`: what a connection was sent (apply only). */
  applied: 'C#',
  /** `M#<connection digest>`: the connection's subjects as Nango last listed it (sweep, apply). */
  membership: 'M#',
  /** `R#<run name>`: a sweep or reconcile run's lease and progress. */
  runs: 'R#',
  /** `U#` (one partition, sort key = subject): subjects whose keys route wrote with no connection (route notes; the sweep checks). */
  unmatched: 'U#',
} as const;
export type ItemKind = keyof typeof ITEM_PREFIXES;

export interface ItemGrant {
  readonly items: readonly ItemKind[];
  readonly actions: readonly TableAction[];
}

/**
 * Who may do what to which items: the one place the table's permissions are written, each line the
 * calls that function's code makes and no more. Each line becomes one IAM statement whose
 * `dynamodb:LeadingKeys` condition admits only those prefixes, so a bug or a compromise in one
 * function cannot rewrite another's items. The webhook has no line: it enqueues a hint and touches
 * no item.
 */
export const TABLE_ACCESS: Readonly<Record<string, readonly ItemGrant[]>> = {
  route: [
    // PutItem: a key group's conditional write; GetItem: the order held when that write was refused.
    { items: ['desired'], actions: ['GetItem', 'PutItem'] },
    // The fallback lookup reads the index and replaces it with Nango's answer; UpdateItem: it merges
    // the answer instead when the index changed since the listing began (an add, a newer listing).
    { items: ['index'], actions: ['GetItem', 'PutItem', 'UpdateItem'] },
    // The last complete sweep: while it is fresh, the index is trusted.
    { items: ['runs'], actions: ['GetItem'] },
    // A subject whose keys it wrote had no connection: noted for the daily check.
    { items: ['unmatched'], actions: ['UpdateItem'] },
  ],
  apply: [
    { items: ['desired'], actions: ['Query'] },
    // DeleteItem: a connection Nango answers 404 for loses its applied state.
    { items: ['applied'], actions: ['GetItem', 'UpdateItem', 'DeleteItem'] },
    // A seed lookup writes what Nango listed; a connection gone from Nango loses it.
    { items: ['membership'], actions: ['GetItem', 'PutItem', 'DeleteItem'] },
    // Adds and moves after a seed lookup; removal on a 404.
    { items: ['index'], actions: ['UpdateItem'] },
  ],
  // The sweep and the daily repair (one function).
  reconcile: [
    // Drift repair reads the desired state once per subject per page.
    { items: ['desired'], actions: ['Query'] },
    // BatchGetItem: a page reads its connections' membership 100 at a time; PutItem: what changed.
    { items: ['membership'], actions: ['BatchGetItem', 'PutItem'] },
    // Adds, moves and removals; BatchGetItem: whether a noted subject (or a near variant) has connections.
    { items: ['index'], actions: ['BatchGetItem', 'UpdateItem'] },
    // The run's lease and progress.
    { items: ['runs'], actions: ['GetItem', 'UpdateItem'] },
    // The daily check reads the noted subjects (one partition) and forgets those that gained a connection.
    { items: ['unmatched'], actions: ['Query', 'DeleteItem'] },
  ],
  webhook: [],
};

/** What TABLE_ACCESS allows `fn`, one statement per line, each limited to its items' partition-key prefixes. */
export function grantItems(table: dynamodb.ITable, grantee: iam.IGrantable, fn: string): void {
  const lines = TABLE_ACCESS[fn];
  if (!lines) throw new Error(`no table access is declared for the ${fn} function`);
  for (const g of lines) {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: g.actions.map((a) => `dynamodb:${a}`),
        resources: [table.tableArn],
        // ForAllValues: every partition key the request touches must match; these actions always carry one.
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': g.items.map((i) => `${ITEM_PREFIXES[i]}*`) } },
      }),
    );
  }
}
