/**
 * An in-process DynamoDB: dynalite (in memory) on 127.0.0.1, with the state table created as the
 * construct deploys it (pk/sk strings, on demand). The AWS SDK reaches it through
 * AWS_ENDPOINT_URL_DYNAMODB, so the handlers need no local-only code path.
 */
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import type { Server } from 'node:http';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';

// dynalite is CommonJS with no types.
const dynalite = createRequire(import.meta.url)('dynalite') as (o: { createTableMs: number; maxItemSizeKb?: number }) => Server;

export interface LocalDynamo {
  endpoint: string;
  client(): DynamoDBClient;
  createStateTable(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalDynamo(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0 });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: DynamoDBClient[] = [];
  const client = () => {
    const c = new DynamoDBClient({
      endpoint,
      region: process.env.AWS_REGION ?? 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    clients.push(c);
    return c;
  };
  return {
    endpoint,
    client,
    async createStateTable(name) {
      const c = client();
      await c.send(
        new CreateTableCommand({
          TableName: name,
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      await waitUntilTableExists({ client: c, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { TableName: name });
    },
    async close() {
      for (const c of clients) c.destroy();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await done;
    },
  };
}
