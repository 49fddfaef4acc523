/**
 * The DLQ envelope survives a round trip: buildEnvelope -> JSON (the SQS body) -> parseEnvelope gives
 * back the same envelope, for any error, target, subjects, keys, events and original bodies (unicode,
 * huge, `__proto__` keys); only an over-long original is cut, and then it says so. And any failure
 * (huge messages, thousands of errors, deep nesting) still gives an envelope under MAX_ENVELOPE_BYTES.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildEnvelope,
  envelopeAttributes,
  envelopeBytes,
  MAX_ENVELOPE_BYTES,
  MAX_ORIGINALS_CHARS,
  parseEnvelope,
  type EnvelopeInput,
  type FailureRecord as Failure,
} from '#commons/dlq-envelope';
import { canonical, jsonArb, patchArb, prototypeSnapshot } from './arbitraries.ts';

const text = fc.string({ maxLength: 40, unit: 'binary' });
const date = fc.date({ min: new Date('2000-01-01T00:00:00.000Z'), max: new Date('2100-01-01T00:00:00.000Z'), noInvalidDate: true });

const bodyArb = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 200, unit: 'binary' }) },
  { weight: 2, arbitrary: patchArb.map((p) => JSON.stringify(p)) },
  // Past the cut, by a little or a lot.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('x', 'é', '€'), fc.integer({ min: -3, max: 50 }))
      .map(([c, extra]) => c.repeat(MAX_ORIGINALS_CHARS + extra)),
  },
);

const inputArb: fc.Arbitrary<EnvelopeInput> = fc.record(
  {
    stage: fc.constantFrom('route', 'apply'),
    error: fc.record(
      {
        status: fc.integer({ min: 100, max: 599 }),
        code: text,
        message: text,
        errors: jsonArb,
        retryable: fc.boolean(),
      },
      { requiredKeys: ['code', 'message', 'retryable'] },
    ),
    target: fc.record({ connectionId: text, providerConfigKey: text }),
    subjects: fc.array(text, { maxLength: 4 }),
    keys: fc.array(text, { maxLength: 4 }),
    events: fc.array(fc.record({ id: text, source: text, detailType: text, time: text }), { maxLength: 5 }),
    attempts: fc.nat(1000),
    firstFailureAt: date,
    lastFailureAt: date,
    originals: fc.array(
      fc.record(
        {
          messageId: text,
          body: bodyArb,
          messageGroupId: fc.string({ minLength: 64, maxLength: 64, unit: fc.constantFrom(...'0123456789abcdef') }),
        },
        { requiredKeys: ['messageId', 'body'] },
      ),
      { maxLength: 3 },
    ),
  },
  { requiredKeys: ['stage', 'error', 'events', 'attempts', 'firstFailureAt', 'lastFailureAt', 'originals'] },
) as fc.Arbitrary<EnvelopeInput>;

describe('DLQ envelope round trip', () => {
  it('buildEnvelope -> JSON -> parseEnvelope gives the same envelope back', () => {
    const proto = prototypeSnapshot();
    fc.assert(
      fc.property(inputArb, (input) => {
        const env = buildEnvelope(input);
        const body = JSON.stringify(env);
        const back = parseEnvelope(body);
        expect(back, 'parseEnvelope refused an envelope buildEnvelope made').toBeDefined();
        expect(canonical(back)).toBe(canonical(JSON.parse(body)));
        // What the replay tool needs survives exactly.
        expect(back!.stage).toBe(input.stage);
        expect(back!.error.code).toBe(input.error.code);
        expect(back!.events.map((e) => e.id)).toEqual(input.events.map((e) => e.id));
        expect(back!.target).toEqual(input.target);
        expect(back!.subjects).toEqual(input.subjects);
        expect(back!.keys).toEqual(input.keys);
        expect(back!.firstFailureAt).toBe(input.firstFailureAt.toISOString());
        // The originals share one budget: within it they are kept whole, past it each gets an equal share.
        const total = input.originals.reduce((n, o) => n + o.body.length, 0);
        const share = total > MAX_ORIGINALS_CHARS ? Math.floor(MAX_ORIGINALS_CHARS / input.originals.length) : Infinity;
        input.originals.forEach((o, i) => {
          const b = back!.originals[i]!;
          expect(b.messageId).toBe(o.messageId);
          expect(b.messageGroupId).toBe(o.messageGroupId);
          if (o.body.length > share) {
            expect(b.truncated).toBe(true);
            expect(b.body).toBe(o.body.slice(0, share));
          } else {
            expect(b.body).toBe(o.body);
            expect(b.truncated).toBeUndefined();
          }
        });
        // SQS refuses empty attribute values: every one present is a non-empty string.
        for (const a of Object.values(envelopeAttributes(back!))) expect(a.StringValue).toMatch(/./s);
      }),
      { numRuns: 150 },
    );
    expect(prototypeSnapshot()).toEqual(proto);
  });

  it('a `__proto__` key in an error is kept as data on parse, never set as a prototype', () => {
    const body = JSON.stringify(
      buildEnvelope({
        stage: 'apply',
        error: { code: 'x', message: 'y', errors: JSON.parse('{"__proto__":{"polluted":true},"plan":"pro"}'), retryable: false },
        events: [],
        attempts: 1,
        firstFailureAt: new Date(0),
        lastFailureAt: new Date(0),
        originals: [],
      }),
    );
    const back = parseEnvelope(body)!;
    expect(back).toBeDefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(back.error)).toBe(Object.prototype);
  });

  it('parseEnvelope rejects what is not an envelope, without throwing', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          jsonArb.map((j) => JSON.stringify(j)),
        ),
        (body) => {
          const r = parseEnvelope(body);
          if (r !== undefined) expect(r.kind).toBe('nango-metadata-sync.failure');
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** Failures as a hostile server or a huge validation answer could make them. */
const deep = (n: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { d: v };
  return v;
};
const hugeFailureArb: fc.Arbitrary<Failure> = fc.record({
  status: fc.integer({ min: 400, max: 599 }),
  code: fc.oneof(text, fc.constantFrom('x'.repeat(10_000), 'é'.repeat(3_000))),
  message: fc.oneof(
    text,
    fc.tuple(fc.constantFrom('m', '€', '\u0000', '"'), fc.integer({ min: 2_000, max: 2_000_000 })).map(([c, n]) => c.repeat(n)),
  ),
  errors: fc.oneof(
    jsonArb,
    fc
      .integer({ min: 21, max: 20_000 })
      .map((n) => Array.from({ length: n }, (_, i) => ({ path: ['flags', `k${i}`], code: 'invalid_type', message: 'x'.repeat(50) }))),
    fc.integer({ min: 10, max: 5_000 }).map(deep),
    fc.integer({ min: 1, max: 5 }).map((n) => ({ blob: 'b'.repeat(n * 400_000) })),
  ),
  retryable: fc.boolean(),
});

describe('any failure fits its queue', () => {
  it('gives an envelope under MAX_ENVELOPE_BYTES that parses back, with its code and a bounded message', () => {
    fc.assert(
      fc.property(
        hugeFailureArb,
        fc.array(
          fc.integer({ min: 0, max: 400_000 }).map((n) => 'o'.repeat(n)),
          { maxLength: 10 },
        ),
        (error, bodies) => {
          const env = buildEnvelope({
            stage: 'route',
            error,
            events: [],
            attempts: 1,
            firstFailureAt: new Date(0),
            lastFailureAt: new Date(0),
            originals: bodies.map((body, i) => ({ messageId: `m${i}`, body })),
          });
          expect(envelopeBytes(env)).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
          const back = parseEnvelope(JSON.stringify(env));
          expect(back).toBeDefined();
          expect(back!.error.code).toBe(error.code.slice(0, 200));
          expect(back!.error.message.length).toBeLessThan(2_100);
          expect(back!.error.status).toBe(error.status);
          expect(back!.originals.map((o) => o.messageId)).toEqual(bodies.map((_, i) => `m${i}`));
        },
      ),
      { numRuns: 60 },
    );
  });
});
