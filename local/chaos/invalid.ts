/** Invalid events of the chaos workload: each must reach the ingress DLQ with its error, never Nango. */
import type { Expect } from './workload.ts';

const INVALID = ['not-json', 'unknown-type', 'schema', 'wrong-types', 'not-object', 'future'] as const;

export function invalidEvent(
  id: string,
  time: string,
  org: string,
  rand: () => number,
): { body: string; detailType: string; expect: Expect } {
  const kind = INVALID[Math.floor(rand() * INVALID.length)]!;
  const env = (detailType: string, detail: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      id,
      source: detailType.startsWith('customer.status') ? 'app.accounts' : 'app.billing',
      'detail-type': detailType,
      time,
      detail,
      ...extra,
    });
  const expect: Expect = { kind: 'invalid', reason: kind };
  switch (kind) {
    case 'not-json':
      return { body: `{"id": "${id}", "source": "app.billing", truncated`, detailType: 'n/a', expect };
    case 'unknown-type':
      return { body: env('customer.deleted', { organizationId: org }), detailType: 'customer.deleted', expect };
    case 'schema':
      return {
        body: env('customer.seats_changed', { organizationId: org, seats: 'ten', changedAt: time }),
        detailType: 'customer.seats_changed',
        expect,
      };
    case 'wrong-types':
      return {
        body: env('customer.plan_changed', { organizationId: 42, plan: ['pro'], changedAt: 7 }, { time: 12 }),
        detailType: 'customer.plan_changed',
        expect,
      };
    case 'not-object':
      return { body: JSON.stringify([id, 'customer.plan_changed']), detailType: 'n/a', expect };
    case 'future': {
      // It would lock its keys against every later change: refused.
      const future = new Date(Date.now() + 2 * 86_400_000).toISOString();
      return {
        body: env('customer.status_changed', { organizationId: org, status: 'churned', changedAt: future }, { time: future }),
        detailType: 'customer.status_changed',
        expect,
      };
    }
  }
}
