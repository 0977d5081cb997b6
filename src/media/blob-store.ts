// The blob store contract: where encrypted media blobs (spec 11.1: ciphertext || 16-byte tag) live
// while the hub's media proxy may fetch them. Redis is not the place for 100 MB blobs, so blobs go
// to a store behind this small interface: the local filesystem by default (fs-blob-store.ts), an
// S3-compatible bucket as an option (s3-blob-store.ts). Everything is streamed; no implementation
// may hold a whole blob in memory.
import type { Readable } from 'node:stream';

export interface PutOptions {
  /** Exact byte length when known (an S3 PutObject needs it); a mismatch fails the put. */
  size?: number;
}

/** Inclusive byte range, as HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobInfo {
  size: number;
  /** When the blob was stored (ms since the epoch), where the store knows it. */
  storedAtMs?: number;
}

export interface BlobStore {
  /** Stores `source` under `key` atomically: a reader sees the whole blob or nothing. */
  put(key: string, source: Readable, opts?: PutOptions): Promise<{ size: number }>;
  /** Opens the blob, or the inclusive `range` of it; `size` is the whole blob's. Throws BlobNotFoundError. */
  get(key: string, range?: ByteRange): Promise<{ stream: Readable; size: number }>;
  /** undefined when there is no such blob. */
  stat(key: string): Promise<BlobInfo | undefined>;
  /** Removes the blob; a missing blob is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes blobs stored before `beforeMs`; returns how many. Optional (an S3 bucket uses lifecycle rules). */
  sweep?(beforeMs: number): Promise<number>;
  /** Releases connections (S3 client sockets); optional. */
  close?(): void | Promise<void>;
}

export class BlobNotFoundError extends Error {
  override readonly name = 'BlobNotFoundError';
  constructor(key: string) {
    super(`no blob ${key}`);
  }
}

/**
 * Blob keys are 8–128 of [A-Za-z0-9_-]: no dots or slashes, so that a key can never name a path
 * outside the store's directory or another object's prefix.
 */
export const BLOB_KEY_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;

export function assertBlobKey(key: string): void {
  if (!BLOB_KEY_PATTERN.test(key)) throw new TypeError('invalid blob key (expected 8–128 of [A-Za-z0-9_-])');
}

export function assertRange(range: ByteRange, size: number): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= size) {
    throw new RangeError(`range ${start}-${end} outside a blob of ${size} bytes`);
  }
}
