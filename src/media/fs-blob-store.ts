// The embedded blob store: one file per blob under `dir`, fanned out by the key's first two
// characters. Writes are atomic (a temp file in the same directory tree, fsync'd, then renamed), so
// a reader never sees a partial blob; keys are validated (blob-store.ts) so they cannot traverse.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertBlobKey, assertRange, BlobNotFoundError, type BlobInfo, type BlobStore, type ByteRange, type PutOptions } from './blob-store.ts';

export class FsBlobStore implements BlobStore {
  readonly #blobs: string;
  readonly #tmp: string;
  #ready: Promise<void> | undefined;

  constructor(dir: string) {
    this.#blobs = join(dir, 'blobs');
    this.#tmp = join(dir, 'tmp');
  }

  async put(key: string, source: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    assertBlobKey(key);
    await this.#init();
    const final = this.#path(key);
    await mkdir(join(final, '..'), { recursive: true, mode: 0o700 });
    const temp = join(this.#tmp, `${key}.${randomBytes(6).toString('hex')}`);
    let size = 0;
    try {
      await pipeline(
        source,
        async function* count(chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            size += chunk.length;
            if (opts.size !== undefined && size > opts.size) throw new RangeError(`blob longer than the announced ${opts.size} bytes`);
            yield chunk;
          }
        },
        // `flush` fsyncs before close: the rename below must never publish a file whose data is
        // still only in the page cache.
        createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true }),
      );
      if (opts.size !== undefined && size !== opts.size) throw new RangeError(`blob of ${size} bytes, ${opts.size} announced`);
      await rename(temp, final);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return { size };
  }

  async get(key: string, range?: ByteRange): Promise<{ stream: Readable; size: number }> {
    assertBlobKey(key);
    let handle;
    try {
      handle = await open(this.#path(key), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(key);
      throw err;
    }
    try {
      const { size } = await handle.stat();
      if (range !== undefined) assertRange(range, size);
      // The handle stays open while the stream reads, so a concurrent delete cannot cut it short.
      const stream = handle.createReadStream(range === undefined ? {} : { start: range.start, end: range.end });
      return { stream, size };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    assertBlobKey(key);
    try {
      const s = await stat(this.#path(key));
      return { size: s.size, storedAtMs: s.mtimeMs };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    await rm(this.#path(key), { force: true });
  }

  /** Deletes blobs (and abandoned temp files) last written before `beforeMs`. */
  async sweep(beforeMs: number): Promise<number> {
    await this.#init();
    let removed = 0;
    const dirs = [this.#tmp, ...(await readdir(this.#blobs)).map((d) => join(this.#blobs, d))];
    for (const dir of dirs) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const path = join(dir, name);
        const s = await stat(path).catch(() => undefined);
        if (s?.isFile() && s.mtimeMs < beforeMs) {
          await unlink(path).catch(() => undefined);
          removed += 1;
        }
      }
    }
    return removed;
  }

  #path(key: string): string {
    return join(this.#blobs, key.slice(0, 2), key);
  }

  #init(): Promise<void> {
    this.#ready ??= Promise.all([
      mkdir(this.#blobs, { recursive: true, mode: 0o700 }),
      mkdir(this.#tmp, { recursive: true, mode: 0o700 }),
    ]).then(() => undefined);
    return this.#ready;
  }
}
