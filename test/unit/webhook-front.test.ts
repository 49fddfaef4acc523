/**
 * The webhook's front door and the subject digest of the logs: the path token compare, the sampled
 * rejection log, and how a subject id appears in a log line.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { subjectForLog } from '#powertools/logger';
import { pathTokenMatches, RejectionLog } from '#commons/webhook/front';
import { captureLogs } from '../support/logs.ts';

describe('path token', () => {
  const token = 'Ab3_-0123456789abcdefXYZ';
  it('accepts exactly /<token>, with or without a trailing slash', () => {
    expect(pathTokenMatches(`/${token}`, token)).toBe(true);
    expect(pathTokenMatches(`/${token}/`, token)).toBe(true);
  });
  it('refuses everything else, whatever its length', () => {
    for (const p of [
      '/',
      '',
      undefined,
      `/${token}x`,
      `/${token.slice(0, -1)}`,
      `/${token.toLowerCase()}`,
      `/a/${token}`,
      `${token}`,
      `//${token}`,
    ])
      expect(pathTokenMatches(p, token), String(p)).toBe(false);
  });
});

describe('rejection log', () => {
  it('logs one line per reason per interval with the source IP and how many went unlogged', () => {
    let now = 0;
    const log = new RejectionLog(10_000, () => now);
    const logs = captureLogs();
    try {
      const logged = [];
      for (let i = 0; i < 100; i++) {
        now = i * 100; // 10 requests a second for 10 s
        logged.push(log.note('path', `198.51.100.${i % 3}`), log.note('signature_malformed', '198.51.100.9'));
      }
      now = 10_000;
      logged.push(log.note('path', '198.51.100.1'));
      expect(logged.filter(Boolean)).toHaveLength(3);
      const lines = logs.records().filter((r) => r.message === 'webhook request rejected');
      expect(lines.map((l) => [l.reason, l.sourceIp, l.unloggedSinceLast])).toEqual([
        ['path', '198.51.100.0', 0],
        ['signature_malformed', '198.51.100.9', 0],
        ['path', '198.51.100.1', 99],
      ]);
    } finally {
      logs.stop();
    }
  });
});

describe('subject ids in logs', () => {
  const saved = process.env.LOG_SUBJECT_IDS;
  afterEach(() => {
    if (saved === undefined) delete process.env.LOG_SUBJECT_IDS;
    else process.env.LOG_SUBJECT_IDS = saved;
  });
  const id = 'tags:email=ana%40example.com&organization_id=acme';

  it('are a digest by default: the first 16 hex digits of SHA-256, as `sha256sum | cut -c1-16` prints them', () => {
    delete process.env.LOG_SUBJECT_IDS;
    const logged = subjectForLog(id);
    expect(logged).toBe(`sha256:${createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 16)}`);
    expect(logged).not.toContain('acme');
    expect(subjectForLog(`${id}x`)).not.toBe(logged);
  });
  it('are the ids themselves when LOG_SUBJECT_IDS=true', () => {
    process.env.LOG_SUBJECT_IDS = 'true';
    expect(subjectForLog(id)).toBe(id);
    process.env.LOG_SUBJECT_IDS = 'false';
    expect(subjectForLog(id)).toMatch(/^sha256:[0-9a-f]{16}$/);
  });
});
