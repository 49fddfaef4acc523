/**
 * The message route puts on the patches FIFO queue: one target connection, one patch, the event it
 * came from. Group = connection key (serial writes per Nango connection); deduplication = hash of
 * event id + key (a redelivered ingress message does not patch twice).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { connectionIdSchema, providerConfigKeySchema } from '#events/ids';

export const targetSchema = z.object({ connectionId: connectionIdSchema, providerConfigKey: providerConfigKeySchema });
export type Target = z.output<typeof targetSchema>;

export const eventRefSchema = z.object({
  id: z.string(),
  source: z.string(),
  detailType: z.string(),
  time: z.string(),
});
export type EventRef = z.output<typeof eventRefSchema>;

const jsonObject = z.record(z.string(), z.json());

export const patchMessageSchema = z.object({
  v: z.literal(1),
  target: targetSchema,
  patch: jsonObject,
  event: eventRefSchema,
});
export type PatchMessage = z.output<typeof patchMessageSchema>;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * SQS group ids allow 128 printable ASCII characters; connection ids allow spaces and 255
 * characters, so the group is a digest of the pair (stable, collision-free in practice).
 */
export const connectionKey = (t: Target): string => sha256(`${t.providerConfigKey}\n${t.connectionId}`);

export const deduplicationId = (eventId: string, t: Target): string => sha256(`${eventId}\n${connectionKey(t)}`);
