// The core's attachments (spec 11.1): files the provider hands over are checked, encrypted and
// hosted once (inline, as an upload, or from a URL), and hub files are downloaded, verified and
// re-hosted under a fresh key before the adapter sees them. Split from core.ts.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Connector, InboundMessage, Notice, OutboundMessage } from '../adapters/contract.ts';
import type { Keyring } from './crypto/keyring.ts';
import { storeMediaRef, type StoredMediaRef } from './delivery/outbox.ts';
import { MediaError, type MediaService } from './media/index.ts';
import { sanitizeFilename } from './media/filename.ts';
import { newId, type MediaKind, type MediaRef } from './protocol/index.ts';
import { SubmitError } from './submit-error.ts';

export interface CoreMediaOptions {
  redis: Redis;
  keyring: Keyring;
  prefix: string;
  media?: () => MediaService | undefined;
  logger: Logger;
}

export class CoreMedia {
  readonly #o: CoreMediaOptions;

  constructor(o: CoreMediaOptions) {
    this.#o = o;
  }

  #uploadKey(id: string): string {
    return `${this.#o.prefix}:upload:${id}`;
  }

  async upload(u: { kind: MediaKind; mime: string; filename?: string; body: ReadableStream<Uint8Array> }): Promise<{ uploadId: string; mime: string; size: number }> {
    const ref = await this.prepare({ kind: u.kind, mime: u.mime, ...(u.filename !== undefined ? { filename: u.filename } : {}) }, u.body);
    const uploadId = newId();
    const key = this.#uploadKey(uploadId);
    await this.#o.redis.hset(key, 'data', this.#o.keyring.seal(Buffer.from(JSON.stringify(ref)), `${key}|data`));
    await this.#o.redis.expire(key, 24 * 3600);
    return { uploadId, mime: ref.mime, size: ref.size };
  }

  /** Checks, encrypts and hosts an attachment (spec 11.1); bad media is the sender's error (SubmitError). */
  async prepare(m: NonNullable<OutboundMessage['media']>, body?: ReadableStream<Uint8Array>): Promise<StoredMediaRef> {
    if (m.uploadId !== undefined) {
      const key = this.#uploadKey(m.uploadId);
      const sealed = await this.#o.redis.hgetBuffer(key, 'data');
      if (!sealed) throw new SubmitError('media', 'no upload with this id (uploads are kept 24 h)');
      const ref = JSON.parse(this.#o.keyring.open(sealed, `${key}|data`).toString('utf8')) as StoredMediaRef;
      if (ref.kind !== m.kind) throw new SubmitError('media', `the upload is a ${ref.kind}, not a ${m.kind}`);
      // The name given now goes into <media filename> too: cleaned like the upload's own.
      const filename = sanitizeFilename(m.filename);
      return { ...ref, ...(filename !== undefined ? { filename } : {}), ...(m.caption !== undefined ? { caption: m.caption } : {}) };
    }
    const service = this.#o.media?.();
    if (!service) throw new SubmitError('media', 'media is not configured on this Causeway');
    const source = body ?? (m.data !== undefined ? m.data : m.url !== undefined ? { url: m.url } : undefined);
    if (source === undefined) throw new SubmitError('media', 'give the file (data) or a URL to fetch it from');
    try {
      const prepared = await service.prepareOutbound({
        kind: m.kind, declaredMime: m.mime, source,
        ...(m.filename !== undefined ? { filename: m.filename } : {}),
        ...(m.caption !== undefined ? { caption: m.caption } : {}),
      });
      return storeMediaRef(prepared.ref);
    } catch (err) {
      if (err instanceof MediaError) throw new SubmitError('media', err.message);
      throw err;
    }
  }

  /**
   * Spec 11.1 inbound: download the hub's blob (size-capped), verify enc-sha256, decrypt, verify
   * sha256 and size; only then re-encrypt it under a fresh key, host it, and hand it over. A blob
   * that fails a check is never passed on: the message goes without it, with a notice.
   */
  async deliver(user: string, c: Connector, m: InboundMessage, ref: MediaRef, notice: (n: Notice) => void): Promise<void> {
    const service = this.#o.media?.();
    const media = m.media as NonNullable<InboundMessage['media']>;
    if (!service) return c.deliver(m);
    const withhold = async (err: MediaError, what: string): Promise<void> => {
      this.#o.logger.warn({ user, peer: m.from, id: m.id, code: err.code }, `inbound media ${what}; not passed on`);
      const { media: _bad, ...rest } = m;
      const text = `An attachment (${media.kind}) from this contact ${what} (${err.code}) and was not passed on.`;
      notice({ kind: 'message-withheld', user, peer: m.from, messageId: m.id, feature: media.kind, text });
      if (rest.text !== undefined || media.caption !== undefined) await c.deliver({ ...rest, ...(rest.text === undefined && media.caption ? { text: media.caption } : {}) });
    };
    let file;
    try {
      file = await service.fetchInbound(ref);
    } catch (err) {
      if (!(err instanceof MediaError) || err.retryable) throw err; // retried by the inbound queue
      return withhold(err, 'failed its integrity check');
    }
    try {
      let hosted;
      try {
        hosted = await service.prepareOutbound({
          kind: file.kind, declaredMime: file.mime, source: file.open(),
          ...(file.filename !== undefined ? { filename: file.filename } : {}),
          ...(file.caption !== undefined ? { caption: file.caption } : {}),
        });
      } catch (err) {
        // Re-hosting checks the content as strictly as any outbound file (with check_inbound_mime
        // off, a loosely labelled file is refused only here). A refusal will not change on a retry:
        // thrown, the inbound queue would retry it to the end and then drop the message unseen.
        if (!(err instanceof MediaError) || err.retryable) throw err;
        return await withhold(err, 'is not a valid file of its kind');
      }
      const h = hosted.ref;
      const { filename: _raw, ...described } = media;
      await c.deliver({
        ...m,
        media: {
          // The sender's file name only as cleaned by the media service (no path, no bidi tricks).
          ...described,
          ...(file.filename !== undefined ? { filename: file.filename } : {}),
          mime: h.mime, size: h.size,
          // What the media service measured in the file beats what the hub sender declared.
          ...(h.width !== undefined ? { width: h.width } : {}),
          ...(h.height !== undefined ? { height: h.height } : {}),
          ...(h.durationMs !== undefined ? { durationMs: h.durationMs } : {}),
          hosted: { url: h.url, key: h.key, nonce: h.nonce, sha256: h.sha256, encSha256: h.encSha256 },
          open: () => file.open(),
        },
      });
    } finally {
      await file.dispose();
    }
  }
}
