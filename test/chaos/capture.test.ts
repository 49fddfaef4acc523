/** The leak check itself: a watched string is found in handler-style output, even split across writes. */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { logger } from '#powertools/logger';
import { captureOutput } from '../../local/chaos/capture.ts';

describe('output capture', () => {
  it('counts a watched key printed by the Powertools logger, whole or split across writes', () => {
    const key = randomUUID();
    const c = captureOutput({ watch: [key] });
    try {
      logger.info('harmless line', { correlation_id: 'x' });
      expect(c.leaks()).toBe(0);
      logger.error('oops', { header: `Bearer ${key}` });
      process.stdout.write(`half ${key.slice(0, 10)}`);
      process.stderr.write(`${key.slice(10)} other half\n`);
      expect(c.leaks()).toBe(2);
      expect(c.tail().join('\n')).not.toContain(key);
    } finally {
      c.stop();
    }
  });
});
