/**
 * SDK calls run in the invocation's margin (DLQ writes, visibility changes): bounded, so a stalled
 * connection fails the call (and its records are retried) rather than timing out the whole batch.
 * Without `throwOnRequestTimeout` the SDK only logs a warning past `requestTimeout` and keeps waiting.
 */
export const AWS_REQUEST_HANDLER = { connectionTimeout: 1_000, requestTimeout: 5_000, throwOnRequestTimeout: true } as const;
