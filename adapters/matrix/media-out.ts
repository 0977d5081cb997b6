// Hub → Matrix attachments: the verified plaintext the core hands over (`InboundMessage.media.open`)
// is read (up to the bridge's cap), encrypted as a Matrix encrypted attachment in an encrypted
// portal (attachment.ts: AES-256-CTR, fresh key and IV, SHA-256) or left plain otherwise, uploaded
// to the homeserver's media repository as the hub user's puppet, and described as the event
// content: m.image / m.video / m.audio / m.file, a voice message as m.audio with MSC3245's voice
// marker and MSC1767's audio block, `info` with type, size, dimensions and duration, and the
// caption as `body` with `filename` beside it (MSC2530).
import type { InboundMessage } from '../contract.ts';
import type { MediaKind } from '../../src/protocol/types.ts';
import { encryptAttachment } from './attachment.ts';
import type { Bridge } from './bridge.ts';
import { MatrixApiError, type Json } from './matrix-api.ts';
import type { Portal } from './portals.ts';

type HubMedia = NonNullable<InboundMessage['media']>;

const MSGTYPE: Record<MediaKind, string> = { image: 'm.image', video: 'm.video', audio: 'm.audio', voice: 'm.audio', document: 'm.file' };

const EXT: Record<string, string> = {
  'image/jpeg': 'jpg', 'image/png': 'png', 'image/gif': 'gif', 'image/webp': 'webp', 'image/heic': 'heic',
  'video/mp4': 'mp4', 'video/webm': 'webm', 'video/quicktime': 'mov',
  'audio/ogg': 'ogg', 'audio/mp4': 'm4a', 'audio/mpeg': 'mp3', 'audio/aac': 'aac', 'audio/wav': 'wav',
  'application/pdf': 'pdf', 'text/plain': 'txt', 'text/vcard': 'vcf', 'application/zip': 'zip',
};

/** A file name for media that came without one (`image.jpg`, `voice.ogg`). */
export function defaultName(kind: MediaKind, mime: string): string {
  return `${kind}.${EXT[(mime.split(';')[0] ?? '').trim().toLowerCase()] ?? 'bin'}`;
}

/** Why a hub attachment is shown as text instead (too large for the bridge or the homeserver). */
export class AttachmentNotBridged extends Error {
  override readonly name = 'AttachmentNotBridged';
}

async function plaintextOf(b: Bridge, m: HubMedia): Promise<Buffer> {
  const max = b.config.max_media_bytes;
  if (m.size > max) throw new AttachmentNotBridged(`larger than this bridge's limit (${m.size} bytes)`);
  if (m.data) return Buffer.from(m.data);
  if (!m.open) throw new AttachmentNotBridged('the file was not available to the bridge');
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of m.open()) {
    const c = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    total += c.length;
    if (total > max) throw new AttachmentNotBridged(`larger than this bridge's limit (${max} bytes)`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/**
 * The content of the Matrix event for a hub attachment, its file uploaded as the puppet. Throws
 * AttachmentNotBridged when the file cannot be put on Matrix (the caller sends a text instead);
 * other failures (homeserver down) are thrown as they are, so that the core retries the delivery.
 */
export async function mediaToMatrix(b: Bridge, p: Portal, m: HubMedia, caption: string | undefined): Promise<Json> {
  const plain = await plaintextOf(b, m);
  const filename = m.filename ?? defaultName(m.kind, m.mime);
  const enc = p.encrypted ? encryptAttachment(plain) : undefined;
  let mxc: string;
  try {
    await b.ensureUser(p.puppet);
    mxc = enc
      ? await b.api.upload({ userId: p.puppet }, enc.ciphertext, 'application/octet-stream')
      : await b.api.upload({ userId: p.puppet }, plain, m.mime, filename);
  } catch (err) {
    if (err instanceof MatrixApiError && err.status === 413) throw new AttachmentNotBridged('larger than the homeserver accepts');
    throw err;
  }
  const info: Json = { mimetype: m.mime, size: plain.length };
  if (m.width !== undefined && m.height !== undefined) Object.assign(info, { w: m.width, h: m.height });
  if (m.durationMs !== undefined) info.duration = m.durationMs;
  const content: Json = {
    msgtype: MSGTYPE[m.kind],
    body: caption ?? filename,
    ...(caption !== undefined || m.kind !== 'voice' ? { filename } : {}),
    info,
    ...(enc ? { file: { ...enc.file, url: mxc } } : { url: mxc }),
  };
  if (m.kind === 'voice') {
    if (caption === undefined) content.body = 'Voice message';
    content['org.matrix.msc1767.audio'] = { duration: m.durationMs ?? 0, waveform: [] };
    content['org.matrix.msc3245.voice'] = {};
  }
  return content;
}
