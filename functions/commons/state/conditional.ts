/** One conditional write for both DynamoDB adapters of the state table. */
import { type DynamoDBDocumentClient, PutCommand, type UpdateCommand } from '@aws-sdk/lib-dynamodb';

/** Sends a conditional write: true when it was made, false when its condition failed. */
export async function sendIfCondition(doc: DynamoDBDocumentClient, command: PutCommand | UpdateCommand): Promise<boolean> {
  try {
    await (command instanceof PutCommand ? doc.send(command) : doc.send(command));
    return true;
  } catch (e) {
    if ((e as Error).name === 'ConditionalCheckFailedException') return false;
    throw e;
  }
}
