/**
 * Every connection that matches a filter, page after page of GET /connections (0-based `page`, as
 * Nango counts), until a short page. Bounded: a subject that matches more than `max` connections is
 * a selector mistake (a tag every connection carries), refused with a permanent error rather than
 * a fan-out to the whole account.
 */
import { Failure } from '../failure.ts';
import { describeFilter } from './filter.ts';
import type { ConnectionFilter, ListedConnection, NangoPort } from './port.ts';

export interface ListAllOptions {
  /** Connections per request, 1..2000. */
  pageSize: number;
  /** More matches than this throws `too_many_connections`. */
  max: number;
  /** Epoch ms, as CallOptions. */
  deadline: number;
}

export async function listAllConnections(
  nango: Pick<NangoPort, 'listConnections'>,
  filter: ConnectionFilter,
  opts: ListAllOptions,
): Promise<ListedConnection[]> {
  const seen = new Map<string, ListedConnection>();
  for (let page = 0; ; page++) {
    const batch = await nango.listConnections(filter, { limit: opts.pageSize, page }, { deadline: opts.deadline });
    const before = seen.size;
    // Offset paging over a set that changes meanwhile can repeat an entry: keep one of each.
    for (const c of batch) seen.set(`${c.providerConfigKey}\u0000${c.connectionId}`, c);
    if (seen.size > opts.max) {
      throw new Failure({
        source: 'nango',
        kind: 'over_limit',
        code: 'too_many_connections',
        message: `more than ${opts.max} connections match ${describeFilter(filter)}: the cap is ${opts.max}; narrow the subject (more tags or integrations) or raise the cap`,
      });
    }
    if (batch.length < opts.pageSize) break;
    if (seen.size === before) {
      // A full page with nothing new: the server ignores `page`, and paging would never end.
      throw new Failure({
        source: 'nango',
        kind: 'unexpected',
        code: 'unexpected_response',
        message: `GET /connections page ${page} repeated earlier pages for ${describeFilter(filter)}`,
      });
    }
  }
  return [...seen.values()];
}
