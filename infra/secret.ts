/** Importing the Nango secret by name or ARN, and the exact resource an IAM policy must name for it. */
import type { Construct } from 'constructs';
import * as sm from 'aws-cdk-lib/aws-secretsmanager';

/** A complete secret ARN ends with the 6-character suffix Secrets Manager appends to the name. */
const COMPLETE_ARN_RE = /^arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;

/**
 * An existing secret by name, complete ARN or partial ARN. An ARN without the random suffix is
 * treated as partial; a name that itself ends in "-" plus six characters should be given as a
 * complete ARN (AWS's own advice), or permissions will not match.
 */
export function importSecret(scope: Construct, id: string, secretId: string): sm.ISecret {
  if (!secretId.startsWith('arn:')) return sm.Secret.fromSecretNameV2(scope, id, secretId);
  if (COMPLETE_ARN_RE.test(secretId)) return sm.Secret.fromSecretCompleteArn(scope, id, secretId);
  return sm.Secret.fromSecretPartialArn(scope, id, secretId);
}

/**
 * The IAM resource for GetSecretValue on exactly this secret: its complete ARN when known; otherwise
 * the partial ARN plus `-??????`, which matches the random suffix and nothing longer.
 */
export function secretPolicyResource(secret: sm.ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}
