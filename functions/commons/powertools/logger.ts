/** The Powertools Logger singleton: JSON lines, one per event, with the event id as `correlation_id`. */
import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'nango-metadata-sync',
});

/** Length of a logged digest: 64 bits, enough to tell a fleet's subjects apart in a log search. */
const DIGEST_HEX = 16;

/**
 * How a subject id (which carries tag values: an organisation id, maybe an e-mail address) appears
 * in logs: `sha256:<first 16 hex of SHA-256 of the id>`, unless LOG_SUBJECT_IDS opts in to the id
 * itself. Read at each call, so a test (or `local/`) can switch it without reloading the module.
 * The same digest is computed by hand with `printf '%s' '<subject id>' | sha256sum | cut -c1-16`.
 */
export function subjectForLog(id: string): string {
  if (logsSubjectIds()) return id;
  return `sha256:${createHash('sha256').update(id).digest('hex').slice(0, DIGEST_HEX)}`;
}

export const subjectsForLog = (ids: readonly string[]): string[] => ids.map(subjectForLog);

/** Whether logs show subject ids (and the tag values in them) as they are. */
export const logsSubjectIds = (): boolean => process.env.LOG_SUBJECT_IDS === 'true';
