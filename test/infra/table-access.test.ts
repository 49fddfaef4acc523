/**
 * Each role's effective permissions on the state table, evaluated from the synthesized policies (not
 * from TABLE_ACCESS itself): for every action and every item kind, would IAM allow a request whose
 * partition key has that prefix? Allow statements only (the template has no Deny on the table), with
 * `ForAllValues:StringLike` on `dynamodb:LeadingKeys` evaluated the way IAM does for one key.
 */
import { describe, expect, it } from 'vitest';
import { ITEM_PREFIXES } from '../../infra/construct/table.ts';
import { synthConstruct } from './helpers.ts';

const { template } = synthConstruct();
const ACTIONS = ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'Scan', 'BatchWriteItem'] as const;
const tableId = Object.keys(template.findResources('AWS::DynamoDB::Table'))[0]!;

const like = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  ).test(value);

function allowed(role: string, action: string, pk: string): boolean {
  const roleId = Object.keys(template.findResources('AWS::IAM::Role')).find((id) => id.startsWith(`Sync${role}Role`))!;
  const statements = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p: any) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
  return statements.some((s: any) => {
    if (s.Effect !== 'Allow') return false;
    if (![s.Action].flat().some((a: string) => like(a, `dynamodb:${action}`))) return false;
    if (![s.Resource].flat().some((r: any) => JSON.stringify(r).includes(tableId))) return false;
    const keys = s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'];
    if (s.Condition && !keys) return false;
    return keys === undefined || [keys].flat().some((k: string) => like(k, pk));
  });
}

/** The matrix as `kind: actions allowed`, e.g. `S#: GetItem,Query`. */
function matrix(role: string): Record<string, string> {
  return Object.fromEntries(
    Object.values(ITEM_PREFIXES).map((prefix) => [prefix, ACTIONS.filter((a) => allowed(role, a, `${prefix}x`)).join(',') || '-']),
  );
}

describe('effective table permissions per role', () => {
  it('route: writes desired state (reading the order a refused write met); reads, replaces and merges indexes; reads the sweep run; notes subjects without a connection', () => {
    expect(matrix('Route')).toEqual({
      'S#': 'GetItem,PutItem',
      'I#': 'GetItem,PutItem,UpdateItem',
      'C#': '-',
      'M#': '-',
      'R#': 'GetItem',
      'U#': 'UpdateItem',
    });
  });
  it('apply: reads desired state; owns applied state; writes and deletes membership; updates indexes', () => {
    expect(matrix('Apply')).toEqual({
      'S#': 'Query',
      'I#': 'UpdateItem',
      'C#': 'GetItem,UpdateItem,DeleteItem',
      'M#': 'GetItem,PutItem,DeleteItem',
      'R#': '-',
      'U#': '-',
    });
  });
  it('webhook: nothing at all', () => {
    expect(matrix('Webhook')).toEqual({ 'S#': '-', 'I#': '-', 'C#': '-', 'M#': '-', 'R#': '-', 'U#': '-' });
  });
  it('reconcile (the sweep): reads desired state; batch-reads and writes membership; batch-reads and updates indexes, updates its run; reads and forgets noted subjects', () => {
    expect(matrix('Reconcile')).toEqual({
      'S#': 'Query',
      'I#': 'BatchGetItem,UpdateItem',
      'C#': '-',
      'M#': 'BatchGetItem,PutItem',
      'R#': 'GetItem,UpdateItem',
      'U#': 'Query,DeleteItem',
    });
  });
  it('no role may Scan or batch-write, nor touch an item outside the known prefixes', () => {
    for (const role of ['Route', 'Apply', 'Webhook', 'Reconcile']) {
      for (const a of ACTIONS) expect(allowed(role, a, 'X#anything'), `${role} ${a}`).toBe(false);
      expect(allowed(role, 'Scan', 'S#x') || allowed(role, 'BatchWriteItem', 'S#x')).toBe(false);
    }
  });
});
