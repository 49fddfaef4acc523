/**
 * Apply's lookup of a connection whose provider config key has outer spaces (Nango's rule allows a
 * space anywhere). Nango trims each id of its `integrationId` list, so that filter cannot name such a
 * key: the lookup lists by connection id alone and picks the exact pair, instead of refusing the
 * seed before sending.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { memberSubjects } from '#commons/apply/tenancy';
import { subjectOf } from '#commons/domain/subject';
import { HttpNangoClient } from '#commons/nango/http-client';
import { staticKeyProvider } from '#commons/secrets';
import { DynamoStateStore } from '#commons/state/dynamodb';
import { DynamoMembershipStore } from '#commons/state/membership';
import { startLocalDynamo, type LocalDynamo } from '../../../local/standins/dynamodb.ts';
import { startNangoStandin, type NangoStandin } from '../../../local/standins/nango.ts';

const KEY = randomUUID();
const id = `acme ${randomUUID()}`;
let db: LocalDynamo;
let nango: NangoStandin;
let client: HttpNangoClient;

beforeAll(async () => {
  db = await startLocalDynamo();
  await db.createStateTable('state');
  nango = await startNangoStandin({
    secretKey: KEY,
    connections: [
      { connectionId: id, providerConfigKey: 'zendesk ', tags: { organization_id: 'acme' } },
      { connectionId: id, providerConfigKey: 'zendesk', tags: { organization_id: 'globex' } },
    ],
  });
  client = new HttpNangoClient({ host: nango.url, endpoint: 'current', keys: staticKeyProvider(KEY), timeoutMs: 5_000 });
});
afterAll(async () => {
  await client.close();
  await nango.close();
  await db.close();
});

it('a seed lookup of a provider config key with a trailing space finds that connection, not its trimmed twin', async () => {
  const deps = {
    nango: client,
    state: new DynamoStateStore(db.client(), 'state'),
    members: new DynamoMembershipStore(db.client(), 'state'),
    tagKeySets: [['organization_id']],
    byConnectionId: false,
  };
  const m = await memberSubjects(deps, { connectionId: id, providerConfigKey: 'zendesk ' }, [], true, Date.now() + 10_000);
  expect(m.gone).toBe(false);
  expect(m.subjects).toEqual([subjectOf({ by: 'tags', tags: { organization_id: 'acme' }, integrations: 'all' }).id]);
});
