import { describe, expect, it } from 'vitest';
import { buildEnvelope, envelopeAttributes, MAX_ENVELOPE_BYTES, MAX_ORIGINALS_CHARS } from '#commons/dlq-envelope';
import { sqsSafeJson } from '#commons/json';

const base = {
  stage: 'apply' as const,
  error: { code: 'http_503', message: 'x', retryable: true },
  attempts: 5,
  firstFailureAt: new Date(0),
  lastFailureAt: new Date(0),
};

describe('DLQ envelope limits', () => {
  it("keeps ten large originals under SQS's 1 MiB together, each flagged when cut", () => {
    const originals = Array.from({ length: 10 }, (_, i) => ({ messageId: `m${i}`, body: 'x'.repeat(150_000) }));
    const env = buildEnvelope({ ...base, events: [], originals });
    expect(Buffer.byteLength(JSON.stringify(env))).toBeLessThan(1024 * 1024);
    expect(env.originals.every((o) => o.truncated && o.body.length === MAX_ORIGINALS_CHARS / 10)).toBe(true);
  });

  it('fits the body as sent: U+FFFF, escaped for SQS, takes six bytes, not three', () => {
    const env = buildEnvelope({ ...base, events: [], originals: [{ messageId: 'a', body: '\uFFFF'.repeat(MAX_ORIGINALS_CHARS) }] });
    expect(Buffer.byteLength(sqsSafeJson(JSON.stringify(env)))).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
    expect(env.originals[0]?.truncated).toBe(true);
  });

  it('leaves originals whole within the budget', () => {
    const env = buildEnvelope({ ...base, events: [], originals: [{ messageId: 'a', body: '{"x":1}' }] });
    expect(env.originals).toEqual([{ messageId: 'a', body: '{"x":1}' }]);
  });

  it('writes only XML-safe attribute values (SQS refuses the rest)', () => {
    const env = buildEnvelope({ ...base, events: [{ id: 'e', source: 's', detailType: 'bad\u0000type\uFFFF', time: 't' }], originals: [] });
    expect(envelopeAttributes(env).eventType?.StringValue).toBe('bad?type?');
  });
});
