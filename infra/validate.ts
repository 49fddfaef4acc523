/**
 * Props checks in the style of AWS Solutions Constructs: every problem is collected, then one
 * error lists them all, each naming the prop, so a deployer fixes everything in one pass.
 */
import { type Duration, Token } from 'aws-cdk-lib';

export class PropsError extends Error {
  constructor(readonly problems: string[]) {
    super(`NangoMetadataSync: invalid props:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PropsError';
  }
}

export class Checks {
  readonly problems: string[] = [];

  fail(message: string): void {
    this.problems.push(message);
  }

  /** Integer within [min, max]; tokens are left to CloudFormation. */
  int(name: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined || Token.isUnresolved(value)) return;
    if (!Number.isInteger(value) || value < min || value > max) {
      this.fail(`${name} must be an integer from ${min} to ${max} (got ${value})`);
    }
  }

  /** Whole seconds within [min, max] seconds. */
  seconds(name: string, value: Duration | undefined, min: number, max: number): void {
    if (value === undefined || value.isUnresolved()) return;
    const ms = value.toMilliseconds();
    if (ms % 1000 !== 0 || ms < min * 1000 || ms > max * 1000) {
      this.fail(`${name} must be whole seconds from ${min} to ${max} (got ${value.toHumanString()})`);
    }
  }

  exclusive(names: string[], values: unknown[]): void {
    const given = names.filter((_, i) => values[i] !== undefined);
    if (given.length > 1) this.fail(`give at most one of ${names.join(', ')} (got ${given.join(' and ')})`);
  }

  throwIfAny(): void {
    if (this.problems.length > 0) throw new PropsError(this.problems);
  }
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const isEmail = (s: string): boolean => EMAIL_RE.test(s);

export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

/** Secrets Manager accepts a name of 1-512 of these characters, or an ARN. */
export const SECRET_NAME_RE = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
export const SECRET_ARN_RE = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
