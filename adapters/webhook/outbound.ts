// A validated message body of the API (POST /v1/messages, or one item of a batch) as the core's
// OutboundMessage: snake_case to the contract's names, inline media decoded from base64.
import type { z } from 'zod';
import type { CoreApi, OutboundMessage } from '../contract.ts';
import type { sendMessageBody } from './schemas.ts';

export type MessageBody = z.output<typeof sendMessageBody>;

/** `to` is the hub address (a phone number has been looked up by then). */
export function outboundMessage(key: string, m: MessageBody, to: string): OutboundMessage {
  return {
    idempotencyKey: key,
    from: m.from,
    to,
    ...(m.text !== undefined ? { text: m.text } : {}),
    ...(m.reply_to ? { replyTo: { id: m.reply_to.id, sender: m.reply_to.sender } } : {}),
    ...(m.feature ? { feature: { name: m.feature.name, data: m.feature.data as Record<string, unknown> } } : {}),
    ...(m.media
      ? {
          media: {
            kind: m.media.kind, mime: m.media.mime,
            ...(m.media.data_base64 !== undefined ? { data: new Uint8Array(Buffer.from(m.media.data_base64, 'base64')) } : {}),
            ...(m.media.url !== undefined ? { url: m.media.url } : {}),
            ...(m.media.upload_id !== undefined ? { uploadId: m.media.upload_id } : {}),
            ...(m.media.filename !== undefined ? { filename: m.media.filename } : {}),
            ...(m.media.caption !== undefined ? { caption: m.media.caption } : {}),
          },
        }
      : {}),
  };
}

/** Where a message goes: its hub address, or why it is answered without submitting it. */
export type Recipient = { to: string } | { repeat: string } | { unreachable: true };

/**
 * The hub address of `to` (a phone number is looked up by `lookup`, default the core's). A repeat
 * of an accepted key is answered from the core's record (`repeat`: its message id), not by looking
 * the number up again.
 */
export async function resolveRecipient(core: CoreApi, adapterId: string, key: string, from: string, to: string, lookup = (f: string, phone: string) => core.lookup(f, phone)): Promise<Recipient> {
  if (!to.startsWith('+')) return { to };
  const first = (await core.statuses(adapterId, key))?.[0];
  if (first?.idempotencyKey === key) return { repeat: first.messageId };
  const jid = await lookup(from, to);
  return jid === undefined ? { unreachable: true } : { to: jid };
}
