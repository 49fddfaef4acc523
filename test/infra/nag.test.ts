/**
 * cdk-nag 3 (AwsSolutions + Serverless) finds nothing unacknowledged, in the default stack and in
 * variants that create or drop resources (helpers.ts's STACK_CONFIGS); and every acknowledgment
 * answers a real finding.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Stack, Validations, type App } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { addNagChecks, nagPacks } from '../../infra/nag.ts';
import { buildStack, newApp, STACK_CONFIGS, type StackConfig, stackOf } from './helpers.ts';

const findings = (app: App) =>
  nagPacks().flatMap((pack) =>
    pack.validateScope(app).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`)),
  );

describe('cdk-nag', () => {
  afterEach(() => vi.restoreAllMocks());

  // Each configuration is synthesized with the packs as validation plugins: a finding throws, naming it.
  it.each(Object.keys(STACK_CONFIGS) as StackConfig[])(
    'synth with the packs as validation plugins succeeds and reports nothing: %s',
    (name) => {
      const { app } = stackOf(name);
      expect(app.synth().stacks).toHaveLength(1);
    },
  );

  it('control: synth with the plugins fails on a finding (an unencrypted queue)', () => {
    const app = newApp();
    new sqs.Queue(new Stack(app, 'Control'), 'Plain', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    addNagChecks(app);
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
    expect(findings(app)).toContain('AwsSolutions-SQS2 at Control/Plain/Resource');
  });

  it('the packs do flag what an acknowledgment hides, and every acknowledgment is used', () => {
    // Record acknowledgments instead of applying them, then match each to a finding.
    const acks: { path: string; id: string; reason: string }[] = [];
    vi.spyOn(Validations.prototype, 'acknowledge').mockImplementation(function (this: any, ...rules) {
      for (const r of rules) acks.push({ path: this.scope.node.path, id: r.id, reason: r.reason });
    });
    const { app } = buildStack(STACK_CONFIGS.wide);
    const raw = findings(app);
    expect(raw.length).toBeGreaterThan(0);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      const used = raw.some((f) => f.startsWith(`${ack.id} at ${ack.path}/`) || f === `${ack.id} at ${ack.path}`);
      expect(used, `unused acknowledgment ${ack.id} on ${ack.path}`).toBe(true);
      expect(ack.reason.length, `${ack.id} needs a real reason`).toBeGreaterThan(60);
    }
  });
});
