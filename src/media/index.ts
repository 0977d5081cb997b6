// The media module (spec 11.1, issue 4): encrypt, host, fetch and verify attachments. Delivery
// uses MediaService; the composition root builds it from the `media:` config section with
// createMediaService and mounts `service.routes()` on the public HTTP app.
import { hkdfSync } from 'node:crypto';
import type { MediaKind } from '../protocol/types.ts';
import type { BlobStore } from './blob-store.ts';
import type { MediaConfig } from './config.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import { S3BlobStore } from './s3-blob-store.ts';
import { MediaService } from './service.ts';

export { BlobNotFoundError, type BlobInfo, type BlobStore, type ByteRange, type PutOptions } from './blob-store.ts';
export { mediaConfigSchema, type MediaConfig, type MediaConfigInput } from './config.ts';
export { decryptVerified, encryptToStore, type BlobRef, type EncryptedBlob } from './encrypt.ts';
export { isMediaError, MEDIA_ERROR_CODES, MediaError, type MediaErrorCode } from './errors.ts';
export { fetchStream, type FetchedStream, type FetchOptions } from './fetch.ts';
export { FsBlobStore } from './fs-blob-store.ts';
export { inspectFile, type Inspection } from './inspect.ts';
export { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.ts';
export { mediaRoutes } from './serve.ts';
export { MediaService, type InboundMedia, type MediaServiceOptions, type OutboundMediaInput, type OutboundSource, type PreparedMedia } from './service.ts';
export { UrlSigner } from './url-token.ts';

/** A media URL key derived from a key-encryption key, for configs without `media.url_secret`. */
export function deriveUrlSecret(kek: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', kek, 'causeway-media', 'media url hmac v1', 32));
}

export function createBlobStore(store: MediaConfig['store'], tmpDir?: string): BlobStore {
  if (store.type === 'fs') return new FsBlobStore(store.dir);
  return new S3BlobStore({
    ...(store.endpoint === undefined ? {} : { endpoint: store.endpoint }),
    region: store.region,
    bucket: store.bucket,
    accessKeyId: store.access_key_id.reveal(),
    secretAccessKey: store.secret_access_key.reveal(),
    forcePathStyle: store.force_path_style,
    prefix: store.prefix,
    ...(tmpDir === undefined ? {} : { tmpDir }),
  });
}

export interface MediaContext {
  /** `server.public_url` (or http://host:port in development). */
  publicBaseUrl: string;
  /** `limits.max_media_bytes`. */
  limits: Record<MediaKind, number>;
  /** Used when `media.url_secret` is unset, e.g. deriveUrlSecret(active KEK). */
  fallbackUrlSecret?: Uint8Array;
}

/** Builds the service from the `media:` config section; `close()` also closes its store. */
export function createMediaService(config: MediaConfig, ctx: MediaContext): MediaService {
  const urlSecret = config.url_secret !== undefined ? new TextEncoder().encode(config.url_secret.reveal()) : ctx.fallbackUrlSecret;
  if (urlSecret === undefined) throw new Error('media: set media.url_secret or pass a fallback URL secret');
  return new MediaService({
    store: createBlobStore(config.store, config.tmp_dir),
    publicBaseUrl: ctx.publicBaseUrl,
    urlSecret,
    urlTtlS: config.url_ttl_s,
    limits: ctx.limits,
    fetchTimeoutMs: config.fetch_timeout_ms,
    maxFetchBytes: config.max_fetch_bytes,
    ...(config.tmp_dir === undefined ? {} : { tmpDir: config.tmp_dir }),
    allowPrivateAddresses: config.allow_private_addresses,
    checkInboundMime: config.check_inbound_mime,
    sweepIntervalMs: config.sweep_interval_s * 1000,
  });
}
