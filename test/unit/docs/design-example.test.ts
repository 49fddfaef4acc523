/** docs/design.md's order-string example is what orderOf gives for sample 01's `plan` key. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { orderOf } from '#commons/domain/order';

const root = new URL('../../../', import.meta.url);

it('the order example in docs/design.md is the real order of sample 01', () => {
  const sample = JSON.parse(readFileSync(new URL('events/samples/01-plan-changed-acme.json', root), 'utf8')) as {
    id: string;
    detail: { plan: string; changedAt: string };
  };
  const example = /^(\d{16}#\S+#[0-9a-f]{16}) +\(plan = "pro" of sample 01\)$/m.exec(
    readFileSync(new URL('docs/design.md', root), 'utf8'),
  )?.[1];
  expect(sample.detail.plan).toBe('pro');
  expect(example).toBe(orderOf(Date.parse(sample.detail.changedAt), sample.id, sample.detail.plan));
});
