// Private scratch files for media in transit: plaintext spooled from the provider before it is
// checked and encrypted, and inbound plaintext decrypted before it is verified. They live in a
// directory only this process's user can read (0700, files 0600) and are removed as soon as they
// are handed over or refused.
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class TempFiles {
  readonly dir: string;
  #ready: Promise<void> | undefined;

  constructor(dir: string = join(tmpdir(), 'causeway-media')) {
    this.dir = dir;
  }

  /** A fresh path in the private directory (the file itself is not created). */
  async path(label: string): Promise<string> {
    // A failure is not kept: the next call tries again.
    this.#ready ??= this.#prepare().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    await this.#ready;
    return join(this.dir, `${label}-${randomBytes(12).toString('hex')}`);
  }

  /**
   * Creates the directory, or checks the one that is there: mkdir keeps an existing directory as
   * it is, so one made first by another local user (in a shared /tmp) could let that user swap a
   * checked file before it is read. It must be a real directory of ours; it is made 0700.
   */
  async #prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const s = await lstat(this.dir);
    const uid = process.getuid?.();
    if (!s.isDirectory() || (uid !== undefined && s.uid !== uid)) {
      throw new Error(`media temp directory ${this.dir} is not a directory owned by this process's user: refusing to use it`);
    }
    if ((s.mode & 0o077) !== 0) await chmod(this.dir, 0o700);
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  /** Removes files left behind (by a crash) before `beforeMs`. */
  async sweep(beforeMs: number): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const path = join(this.dir, name);
      const s = await stat(path).catch(() => undefined);
      if (s?.isFile() === true && s.mtimeMs < beforeMs) {
        await rm(path, { force: true });
        removed += 1;
      }
    }
    return removed;
  }
}
