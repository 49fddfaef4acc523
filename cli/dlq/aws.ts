/**
 * AWS SDK clients for the CLI. The SDK itself honours AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL
 * (the local pipeline) and the usual credential chain; --endpoint and --region override.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { QueueFlags } from './args.ts';

export function sqsClient(flags: QueueFlags): SQSClient {
  return new SQSClient({
    ...(flags.region ? { region: flags.region } : {}),
    ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
    // The SDK retries throttling and 5xx; a replay re-run covers anything beyond that.
    maxAttempts: 5,
  });
}

export function secretsClient(flags: QueueFlags): SecretsManagerClient {
  return new SecretsManagerClient(flags.region ? { region: flags.region } : {});
}

/** For error messages only: where SQS requests go. */
export function sqsEndpoint(flags: QueueFlags, env: NodeJS.ProcessEnv): string | undefined {
  return flags.endpoint ?? env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL;
}
