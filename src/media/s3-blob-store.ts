// Blob store on an S3-compatible bucket (AWS S3, MinIO, Ceph, R2…) through @aws-sdk/client-s3.
// PutObject needs the exact length of a streamed body (multipart upload would need
// @aws-sdk/lib-storage, which is not a dependency), so a put without a known size is first spooled
// to a private temp file. Checksums are only computed where S3 requires them: the SDK's default
// aws-chunked trailing checksums are not understood by every S3-compatible server, and the blob's
// integrity is already guaranteed end to end by `enc-sha256` and the GCM tag (spec 11.1).
import { createReadStream, createWriteStream } from 'node:fs';
import { stat as fsStat } from 'node:fs/promises';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { assertBlobKey, assertRange, BlobNotFoundError, type BlobInfo, type BlobStore, type ByteRange, type PutOptions } from './blob-store.ts';
import { TempFiles } from './temp-files.ts';

export interface S3BlobStoreOptions {
  /** e.g. `https://s3.eu-west-1.amazonaws.com` or `http://minio:9000`; omit for AWS's default. */
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `https://host/bucket/key` instead of `https://bucket.host/key` (MinIO and most self-hosted stores). */
  forcePathStyle?: boolean;
  /** Prepended to every key, e.g. `media/`. */
  prefix?: string;
  /** Where puts of unknown length are spooled. */
  tmpDir?: string;
  /** The SDK's logger (pino fits); silent by default. */
  logger?: { debug(...a: unknown[]): void; info(...a: unknown[]): void; warn(...a: unknown[]): void; error(...a: unknown[]): void };
}

const SILENT = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export class S3BlobStore implements BlobStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #temp: TempFiles;

  constructor(o: S3BlobStoreOptions) {
    this.#client = new S3Client({
      ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
      region: o.region,
      credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey },
      forcePathStyle: o.forcePathStyle ?? false,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Without a logger the SDK warns on the console when a streamed put fails; the failure
      // reaches the caller as the put's rejection anyway.
      logger: o.logger ?? SILENT,
    });
    this.#bucket = o.bucket;
    this.#prefix = o.prefix ?? '';
    this.#temp = new TempFiles(o.tmpDir);
  }

  async put(key: string, source: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    assertBlobKey(key);
    if (opts.size === undefined) return this.#putSpooled(key, source);
    const size = opts.size;
    let seen = 0;
    // Counts what passes so that a source shorter or longer than announced fails the put instead
    // of stalling the request or storing a truncated object. The SDK pipes `Body` into the request
    // without watching it for errors, so the feeding runs here and aborts the request on failure.
    const count = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        seen += chunk.length;
        done(seen > size ? new RangeError(`blob longer than the announced ${size} bytes`) : null, chunk);
      },
      flush(done: TransformCallback) {
        done(seen === size ? null : new RangeError(`blob of ${seen} bytes, ${size} announced`));
      },
    });
    const body = new PassThrough();
    body.on('error', () => undefined); // reported through `feeding`
    const abort = new AbortController();
    const feeding = pipeline(source, count, body).catch((err: unknown) => {
      abort.abort(err);
      throw err;
    });
    const sending = this.#client
      .send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key, Body: body, ContentLength: size, ContentType: 'application/octet-stream' }), { abortSignal: abort.signal })
      .catch((err: unknown) => {
        body.destroy(); // unblocks the feeding pipeline
        throw err;
      });
    const [fed, sent] = await Promise.allSettled([feeding, sending]);
    if (fed.status === 'rejected') throw fed.reason;
    if (sent.status === 'rejected') throw sent.reason;
    return { size };
  }

  async get(key: string, range?: ByteRange): Promise<{ stream: Readable; size: number }> {
    assertBlobKey(key);
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      const total = out.ContentRange !== undefined ? Number(/\/(\d+)$/.exec(out.ContentRange)?.[1]) : out.ContentLength;
      if (!(out.Body instanceof Readable) || total === undefined || !Number.isSafeInteger(total)) {
        throw new Error('unexpected GetObject answer (no stream body or length)');
      }
      if (range !== undefined) assertRange(range, total);
      return { stream: out.Body, size: total };
    } catch (err) {
      if (status(err) === 404) throw new BlobNotFoundError(key);
      if (status(err) === 416) throw new RangeError(`range ${range?.start}-${range?.end} not satisfiable`, { cause: err });
      throw err;
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    assertBlobKey(key);
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }));
      if (out.ContentLength === undefined) throw new Error('HeadObject answered without a length');
      return { size: out.ContentLength, ...(out.LastModified ? { storedAtMs: out.LastModified.getTime() } : {}) };
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }));
    } catch (err) {
      if (status(err) !== 404) throw err;
    }
  }

  close(): void {
    this.#client.destroy();
  }

  async #putSpooled(key: string, source: Readable): Promise<{ size: number }> {
    const path = await this.#temp.path('s3-put');
    try {
      await pipeline(source, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
      const { size } = await fsStat(path);
      return await this.put(key, createReadStream(path), { size });
    } finally {
      await this.#temp.remove(path);
    }
  }
}

function status(err: unknown): number | undefined {
  if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode;
  return undefined;
}
