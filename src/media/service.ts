// MediaService: the media module's facade for delivery (issue 4).
//
// Outbound: the provider's attachment (a stream, bytes, or a URL fetched with a cap and a
// deadline) is spooled to a private temp file under the kind's size limit, inspected (MIME by
// content, kind rules, width/height/duration), encrypted into the blob store (spec 11.1) and given
// an expiring URL; the answer is the MediaRef that goes into `<content><media/>` (spec 11).
// Spooling first means nothing is stored or encrypted before the checks pass, the metadata parser
// can seek (an MP4's moov may sit at the end), and an S3 PutObject knows its length.
//
// Inbound: the hub's blob is downloaded (capped at the declared size + tag), decrypted into a temp
// file and only handed over once enc-sha256, the GCM tag, size, sha256 and (by default) the kind
// and MIME checks all pass. The caller owns the file (`dispose()`).
import { createReadStream, createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Hono } from 'hono';
import { MEDIA_KINDS, type MediaKind, type MediaRef } from '../protocol/types.ts';
import type { BlobStore } from './blob-store.ts';
import { decryptVerified, encryptToStore, KEY_BYTES, NONCE_BYTES, TAG_BYTES } from './encrypt.ts';
import { MediaError } from './errors.ts';
import { fetchStream } from './fetch.ts';
import { sanitizeFilename } from './filename.ts';
import { inspectFile } from './inspect.ts';
import { mediaRoutes } from './serve.ts';
import { TempFiles } from './temp-files.ts';
import { UrlSigner } from './url-token.ts';

export interface MediaServiceOptions {
  store: BlobStore;
  /** Base URL the hub reaches this sidecar at (`server.public_url`); URLs are `{base}/media/{token}`. */
  publicBaseUrl: string;
  /** HMAC key of media URLs, ≥ 32 bytes, the same on every replica. */
  urlSecret: Uint8Array;
  /** Lifetime of a media URL and its blob, seconds. */
  urlTtlS: number;
  /** Per-kind plaintext limits in bytes (`limits.max_media_bytes`, spec 11.1). */
  limits: Record<MediaKind, number>;
  fetchTimeoutMs: number;
  /** Cap on a provider-given URL's download (on top of the kind's limit). */
  maxFetchBytes: number;
  tmpDir?: string;
  allowPrivateAddresses?: boolean;
  /** Refuse inbound media whose content does not fit its kind and MIME type (default true). */
  checkInboundMime?: boolean;
  /** Delete expired blobs this often (stores with `sweep`); 0 or unset = only when `sweep()` is called. */
  sweepIntervalMs?: number;
  nowMs?: () => number;
}

/** A Node stream, a web stream (e.g. a Hono request body), bytes, or a URL to fetch. */
export type OutboundSource = Readable | ReadableStream<Uint8Array> | Uint8Array | { url: string };

export interface OutboundMediaInput {
  kind: MediaKind;
  /** The type the provider declared; checked against the content. */
  declaredMime: string;
  filename?: string;
  caption?: string;
  source: OutboundSource;
}

export interface PreparedMedia {
  /** Everything `<media>` needs (spec 11); `mime` is the checked type, which may differ from the declared one. */
  ref: MediaRef;
  /** The stored blob (for `deleteBlob`). */
  blobKey: string;
  /** When `ref.url` stops working, UNIX seconds. */
  expiresAtS: number;
}

export interface InboundMedia {
  /** A verified plaintext file, owned by the caller until `dispose()`. */
  path: string;
  kind: MediaKind;
  mime: string;
  size: number;
  filename?: string;
  caption?: string;
  width?: number;
  height?: number;
  durationMs?: number;
  /** Streams the file. */
  open(): Readable;
  /** Removes the file. */
  dispose(): Promise<void>;
}

/** Blobs are kept this long past their URL's expiry, so a download that started in time can finish. */
const SWEEP_GRACE_S = 3600;
/** Temp files older than this are leftovers of a crash. */
const TEMP_MAX_AGE_MS = 24 * 3600 * 1000;

export class MediaService {
  readonly #o: MediaServiceOptions;
  readonly #signer: UrlSigner;
  readonly #temp: TempFiles;
  readonly #base: string;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(o: MediaServiceOptions) {
    this.#o = o;
    this.#signer = new UrlSigner(o.urlSecret);
    this.#temp = new TempFiles(o.tmpDir);
    this.#base = o.publicBaseUrl.replace(/\/+$/, '');
    if (o.sweepIntervalMs !== undefined && o.sweepIntervalMs > 0) {
      this.#sweeper = setInterval(() => void this.sweep().catch(() => undefined), o.sweepIntervalMs);
      this.#sweeper.unref();
    }
  }

  /** Checks, encrypts and stores an attachment; throws MediaError for one that must not be sent. */
  async prepareOutbound(input: OutboundMediaInput): Promise<PreparedMedia> {
    let kind: MediaKind;
    try {
      kind = this.#kind(input.kind);
    } catch (err) {
      discard(input.source);
      throw err;
    }
    const limit = this.#o.limits[kind];
    const label = `the ${kind} limit`;
    let source: Readable;
    let urlFilename: string | undefined;
    if (input.source instanceof Uint8Array) {
      if (input.source.length > limit) throw new MediaError('too-large', `the file is ${input.source.length} bytes, over ${label} of ${limit}`);
      source = Readable.from([input.source]);
    } else if (input.source instanceof Readable) {
      source = input.source;
    } else if (input.source instanceof ReadableStream) {
      source = Readable.fromWeb(input.source as WebReadableStream<Uint8Array>);
    } else {
      const fetched = await fetchStream(input.source.url, {
        maxBytes: Math.min(limit, this.#o.maxFetchBytes),
        timeoutMs: this.#o.fetchTimeoutMs,
        allowPrivateAddresses: this.#o.allowPrivateAddresses === true,
        limitLabel: limit <= this.#o.maxFetchBytes ? label : 'the download limit',
      });
      source = fetched.stream;
      urlFilename = fetched.filename;
    }
    let path: string;
    try {
      path = await this.#temp.path('out');
    } catch (err) {
      source.destroy();
      throw err;
    }
    try {
      const size = await spool(source, path, limit, label);
      const seen = await inspectFile(path, kind, input.declaredMime);
      const blobKey = randomBytes(16).toString('base64url');
      const enc = await encryptToStore(createReadStream(path), this.#o.store, blobKey, { size, maxBytes: limit });
      const expiresAtS = Math.floor(this.#nowMs() / 1000) + this.#o.urlTtlS;
      const ref: MediaRef = {
        kind,
        mime: seen.mime,
        size: enc.size,
        sha256: enc.sha256,
        encSha256: enc.encSha256,
        key: enc.mediaKey,
        nonce: enc.nonce,
        url: this.urlFor(blobKey, expiresAtS),
      };
      const filename = sanitizeFilename(input.filename ?? urlFilename);
      if (filename !== undefined) ref.filename = filename;
      if (seen.width !== undefined && seen.height !== undefined) Object.assign(ref, { width: seen.width, height: seen.height });
      if (seen.durationMs !== undefined) ref.durationMs = seen.durationMs;
      if (input.caption !== undefined && input.caption !== '') ref.caption = input.caption;
      return { ref, blobKey, expiresAtS };
    } finally {
      await this.#temp.remove(path);
    }
  }

  /** Downloads, verifies and decrypts a hub user's media; throws MediaError for one that fails a check. */
  async fetchInbound(ref: MediaRef): Promise<InboundMedia> {
    const kind = this.#kind(ref.kind);
    const limit = this.#o.limits[kind];
    if (!Number.isSafeInteger(ref.size) || ref.size < 0) throw new MediaError('size-mismatch', 'the declared size is not a byte count');
    if (ref.size > limit) throw new MediaError('too-large', `the ${kind} is ${ref.size} bytes, over the ${kind} limit of ${limit}`);
    if (ref.key.length !== KEY_BYTES || ref.nonce.length !== NONCE_BYTES) throw new MediaError('tag-mismatch', 'cannot decrypt: wrong key or nonce length');
    let fetched;
    try {
      fetched = await fetchStream(ref.url, {
        maxBytes: ref.size + TAG_BYTES,
        timeoutMs: this.#o.fetchTimeoutMs,
        allowPrivateAddresses: this.#o.allowPrivateAddresses === true,
        limitLabel: 'the declared size plus the tag',
      });
    } catch (err) {
      throw err instanceof MediaError && err.code === 'too-large'
        ? new MediaError('size-mismatch', `the blob is larger than its declared size of ${ref.size} bytes`)
        : err;
    }
    let verified;
    try {
      verified = await decryptVerified(fetched.stream, ref, this.#temp);
    } catch (err) {
      // The fetch cap is the declared size: running past it mid-stream means the blob lied.
      throw err instanceof MediaError && err.code === 'too-large'
        ? new MediaError('size-mismatch', `the blob is larger than its declared size of ${ref.size} bytes`)
        : err;
    }
    const { path, size } = verified;
    const dispose = () => this.#temp.remove(path);
    try {
      const out: InboundMedia = { path, kind, mime: ref.mime, size, open: () => createReadStream(path), dispose };
      Object.assign(out, pick(ref, ['width', 'height', 'durationMs', 'caption']));
      if (this.#o.checkInboundMime !== false) {
        // What the content itself says wins over the sender's attributes.
        const seen = await inspectFile(path, kind, ref.mime);
        Object.assign(out, { mime: seen.mime }, pick(seen, ['width', 'height', 'durationMs']));
      }
      const filename = sanitizeFilename(ref.filename);
      if (filename !== undefined) out.filename = filename;
      return out;
    } catch (err) {
      await dispose();
      throw err;
    }
  }

  /** The Hono routes serving blobs at /media/{token}; mount at the root of the public app. */
  routes(): Hono {
    return mediaRoutes({ store: this.#o.store, signer: this.#signer, nowS: () => Math.floor(this.#nowMs() / 1000) });
  }

  /** A fresh URL for a stored blob (e.g. to resend after the first one expired). */
  urlFor(blobKey: string, expiresAtS: number): string {
    return `${this.#base}/media/${this.#signer.sign(blobKey, expiresAtS)}`;
  }

  async deleteBlob(blobKey: string): Promise<void> {
    await this.#o.store.delete(blobKey);
  }

  /** Deletes blobs whose URLs expired (plus a grace period) and stale temp files. */
  async sweep(): Promise<{ blobs: number; temp: number }> {
    const now = this.#nowMs();
    const blobs = (await this.#o.store.sweep?.(now - (this.#o.urlTtlS + SWEEP_GRACE_S) * 1000)) ?? 0;
    const temp = await this.#temp.sweep(now - TEMP_MAX_AGE_MS);
    return { blobs, temp };
  }

  async close(): Promise<void> {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    await this.#o.store.close?.();
  }

  #kind(kind: string): MediaKind {
    if (!(MEDIA_KINDS as readonly string[]).includes(kind)) throw new MediaError('unsupported-kind', `"${kind.slice(0, 40)}" is not a media kind`);
    return kind as MediaKind;
  }

  #nowMs(): number {
    return this.#o.nowMs?.() ?? Date.now();
  }
}

/** Releases a source that will not be read. */
function discard(source: OutboundSource): void {
  if (source instanceof Readable) source.destroy();
  else if (source instanceof ReadableStream) void source.cancel().catch(() => undefined);
}

/** Writes `source` to `path`, refusing more than `limit` bytes; returns the byte count. */
async function spool(source: Readable, path: string, limit: number, label: string): Promise<number> {
  let size = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      size += chunk.length;
      if (size > limit) done(new MediaError('too-large', `the file is over ${label} of ${limit} bytes`));
      else done(null, chunk);
    },
  });
  await pipeline(source, cap, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  return size;
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
