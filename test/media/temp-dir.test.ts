// The media scratch directory (temp-files.ts) holds plaintext in transit: one that already exists
// is used only if it is a real directory of this process's user, and is made private (0700).
import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TempFiles } from '../../src/media/temp-files.ts';

const root = mkdtempSync(join(tmpdir(), 'causeway-tempdir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('media temp directory', () => {
  it('makes an existing directory that others could enter private', async () => {
    const dir = join(root, 'open');
    await new TempFiles(dir).path('x'); // created
    chmodSync(dir, 0o777);
    await new TempFiles(dir).path('x');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('refuses a symlink in its place', async () => {
    const target = mkdtempSync(join(root, 'elsewhere-'));
    const link = join(root, 'link');
    symlinkSync(target, link);
    await expect(new TempFiles(link).path('x')).rejects.toThrow(/not a directory owned by this process's user/);
  });
});
