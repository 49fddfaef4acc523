/**
 * The two secrets the functions read: Nango's secret key (route, apply, reconcile) and Nango's webhook
 * signing key (webhook only). Each is given, imported by name or ARN, or created empty for you to fill.
 */
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sm from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';

/** A complete secret ARN ends with the 6-character suffix Secrets Manager appends to the name. */
const COMPLETE_ARN_RE = /^arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;

/**
 * An existing secret by name, complete ARN or partial ARN. An ARN without the random suffix is
 * treated as partial; a name that itself ends in "-" plus six characters should be given as a
 * complete ARN (AWS's own advice), or permissions will not match.
 */
function importSecret(scope: Construct, id: string, secretId: string): sm.ISecret {
  if (!secretId.startsWith('arn:')) return sm.Secret.fromSecretNameV2(scope, id, secretId);
  if (COMPLETE_ARN_RE.test(secretId)) return sm.Secret.fromSecretCompleteArn(scope, id, secretId);
  return sm.Secret.fromSecretPartialArn(scope, id, secretId);
}

/**
 * The IAM resource for GetSecretValue on exactly this secret: its complete ARN when known; otherwise
 * the partial ARN plus `-??????`, which matches the random suffix and nothing longer.
 */
function secretPolicyResource(secret: sm.ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

export interface SecretSource {
  readonly secret?: sm.ISecret;
  readonly secretId?: string;
  /** Shown in the placeholder's description. */
  readonly description: string;
  /** Why the value cannot be rotated by a Lambda here. */
  readonly noRotationReason: string;
}

export function resolveSecret(scope: Construct, id: string, s: SecretSource): sm.ISecret {
  if (s.secret) return s.secret;
  if (s.secretId) return importSecret(scope, id, s.secretId);
  const secret = new sm.Secret(scope, id, { description: s.description });
  // No generated value: the template never holds key material, and a random string would only fail.
  (secret.node.defaultChild as sm.CfnSecret).addPropertyDeletionOverride('GenerateSecretString');
  Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: s.noRotationReason });
  return secret;
}

/** GetSecretValue on this one secret, and decrypt with its customer key when it has one. */
export function grantSecretRead(secret: sm.ISecret, grantee: iam.IGrantable, key?: kms.IKey): void {
  iam.Grant.addToPrincipal({ grantee, actions: ['secretsmanager:GetSecretValue'], resourceArns: [secretPolicyResource(secret)] });
  (key ?? secret.encryptionKey)?.grantDecrypt(grantee);
}
