// The image runs as a non-root user in a root-owned /app, and the media store's default directory
// (media.store.dir, relative to the working directory) is under /app: the Dockerfile must make it
// writable by that user, or every attachment fails with EACCES in a container using the default.
// No Docker daemon is needed: this reads the Dockerfile's runtime stage.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mediaConfigSchema } from '../../src/media/config.ts';

const dockerfile = readFileSync('Dockerfile', 'utf8').replace(/\\\n/g, ' ');
const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
const instructions = runtime.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
const last = (name: string): string | undefined =>
  instructions.filter((l) => l.startsWith(`${name} `)).at(-1)?.slice(name.length + 1).trim();

describe('Dockerfile runtime stage', () => {
  it('runs as a non-root user', () => {
    expect(last('USER')).toBeDefined();
    expect(last('USER')).not.toMatch(/^(root|0)(:|$)/);
  });

  it('makes the default media directory writable by that user', () => {
    const store = mediaConfigSchema.parse({}).store;
    if (store.type !== 'fs') throw new Error('the default media store is not fs');
    const workdir = last('WORKDIR') ?? '/';
    const mediaDir = posix.resolve(workdir, store.dir);
    const user = (last('USER') ?? '').split(':')[0] ?? '';
    const prepared = instructions.some((l) => {
      if (!l.startsWith('RUN ')) return false;
      const made = [...l.matchAll(/mkdir\s+-p\s+([^&;]+)/g)].flatMap((m) => (m[1] ?? '').trim().split(/\s+/)).map((d) => posix.resolve(workdir, d));
      const owned = new RegExp(`chown\\s+(-R\\s+)?${user}(:${user})?\\s`).test(l);
      return owned && made.some((d) => mediaDir === d || mediaDir.startsWith(`${d}/`));
    });
    expect(prepared, `no RUN creates ${mediaDir} (or a parent) owned by ${user}`).toBe(true);
  });
});

describe('Dockerfile build context', () => {
  it('names no frontend image (BuildKit would pull docker/dockerfile from Docker Hub, offline builds fail)', () => {
    expect(readFileSync('Dockerfile', 'utf8')).not.toMatch(/^#\s*syntax\s*=/im);
  });

  it('leaves local runtime data and secrets out of the context', () => {
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', '.env', 'data', '.git']) expect(ignored).toContain(p);
  });
});
