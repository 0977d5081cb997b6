// Matrix → hub attachments: what an m.image / m.video / m.audio (voice with MSC3245) / m.file or
// an m.sticker says about its file (`info`, MSC2530 captions), and the file itself, downloaded from
// the homeserver as the portal's puppet with a size cap and a deadline — an encrypted attachment
// (`file`) checked against its SHA-256 and decrypted on the way (attachment.ts), a plain one (`url`)
// as it is. The plaintext goes to the core as a stream (`core.uploadMedia`), which checks it by
// content, encrypts it for the hub and hosts it; a stream that fails (cap, hash) is never sent.
import type { MediaKind } from '../../src/protocol/types.ts';
import { AttachmentError, readAll, readEncryptedFile, verifyingStream, type EncryptedFile } from './attachment.ts';
import type { Bridge } from './bridge.ts';
import { htmlToHubText } from './content.ts';
import type { Json } from './matrix-api.ts';

/** What an attachment event says about its file. */
export interface MatrixAttachment {
  file?: EncryptedFile;
  url?: string;
  mime: string;
  /** The size `info` declares (checked against the cap before downloading). */
  size?: number;
  filename?: string;
  caption?: string;
}

/** A type the core accepts when a client gave none (the core corrects it from the content within the family). */
const DEFAULT_MIME: Record<MediaKind, string> = { image: 'image/jpeg', video: 'video/mp4', audio: 'audio/mpeg', voice: 'audio/ogg', document: 'application/octet-stream' };
const MIME_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

/** Reads an attachment event's content; throws AttachmentError('bad-file') when it has no usable file. */
export function readAttachment(content: Json, kind: MediaKind): MatrixAttachment {
  const info = (content.info ?? {}) as Json;
  const declared = typeof info.mimetype === 'string' ? info.mimetype.split(';')[0]?.trim() : undefined;
  const mime = declared !== undefined && MIME_RE.test(declared) ? declared : DEFAULT_MIME[kind];
  const out: MatrixAttachment = { mime };
  if (content.file !== undefined) out.file = readEncryptedFile(content.file);
  else if (typeof content.url === 'string' && content.url.startsWith('mxc://')) out.url = content.url;
  else throw new AttachmentError('bad-file', 'the message has no file');
  if (typeof info.size === 'number' && Number.isSafeInteger(info.size) && info.size >= 0) out.size = info.size;
  // MSC2530: with a `filename`, a different `body` is the caption; without one, `body` is the name.
  const body = nonEmpty(content.body);
  const filename = nonEmpty(content.filename) ?? (kind === 'voice' ? undefined : body);
  if (filename !== undefined) out.filename = filename.slice(0, 255);
  if (nonEmpty(content.filename) !== undefined && body !== undefined && body !== content.filename) {
    out.caption = content.format === 'org.matrix.custom.html' && typeof content.formatted_body === 'string' ? htmlToHubText(content.formatted_body) : body;
  }
  return out;
}

/**
 * The attachment's plaintext as a stream, downloaded as `as` (a user in the room). Fails with an
 * AttachmentError when it is over the cap (declared, announced or counted), cannot be downloaded,
 * or does not match its hash.
 */
export async function openAttachment(b: Bridge, as: string, a: MatrixAttachment): Promise<ReadableStream<Uint8Array>> {
  const max = b.config.max_media_bytes;
  if (a.size !== undefined && a.size > max) throw new AttachmentError('too-large', `the file is ${a.size} bytes, over the bridge's limit of ${max}`);
  const mxc = a.file?.url ?? a.url ?? '';
  let r: Response;
  try {
    r = await b.api.download({ userId: as }, mxc, AbortSignal.timeout(b.config.media_timeout_s * 1000));
  } catch (err) {
    b.log.info({ err: (err as Error).message }, 'attachment download failed');
    throw new AttachmentError('download-failed', 'the file could not be downloaded from the homeserver');
  }
  const length = Number(r.headers.get('content-length') ?? NaN);
  if (!r.body || (Number.isFinite(length) && length > max)) {
    await r.body?.cancel();
    throw new AttachmentError(r.body ? 'too-large' : 'download-failed', r.body ? `the file is over the bridge's limit of ${max} bytes` : 'the homeserver sent no file');
  }
  return r.body.pipeThrough(verifyingStream(max, a.file));
}

/** The AttachmentError behind a failed stream or upload, if that is what failed. */
export function attachmentFailure(err: unknown): AttachmentError | undefined {
  for (let e = err, i = 0; e instanceof Error && i < 5; e = e.cause, i++) if (e instanceof AttachmentError) return e;
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) return new AttachmentError('download-failed', 'the download took too long');
  return undefined;
}

/** Downloads and hands an attachment to the core; answers the `OutboundMessage.media` that names it. */
export async function uploadAttachment(b: Bridge, as: string, kind: MediaKind, a: MatrixAttachment): Promise<{ kind: MediaKind; mime: string; uploadId: string; filename?: string; caption?: string }> {
  const body = await openAttachment(b, as, a);
  let up: Awaited<ReturnType<ReturnType<Bridge['requireCore']>['uploadMedia']>>;
  try {
    up = await b.requireCore().uploadMedia({ kind, mime: a.mime, body, ...(a.filename !== undefined ? { filename: a.filename } : {}) });
  } catch (err) {
    // Refused before the body was read (no media service…): the download must not stay open.
    await body.cancel().catch(() => undefined);
    throw err;
  }
  return { kind, mime: up.mime, uploadId: up.uploadId, ...(a.filename !== undefined ? { filename: a.filename } : {}), ...(a.caption !== undefined ? { caption: a.caption } : {}) };
}

/** A sticker's `feature.data` for the policy (src/policy features.ts `sticker`), with its bytes. */
export async function stickerFeature(b: Bridge, as: string, content: Json, mime: string): Promise<Json> {
  const a = readAttachment(content, 'image');
  const data = await readAll(await openAttachment(b, as, a));
  const label = nonEmpty(content.body);
  return { mime, ...(label !== undefined && [...label].length <= 64 ? { emoji: label } : {}), media: { data } };
}
