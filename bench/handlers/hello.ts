/** The cold-start baseline: an SQS handler that does nothing, bundled with the same options. */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';

export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  void event.Records.length;
  return { batchItemFailures: [] };
};
