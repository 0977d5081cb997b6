// `causeway start` when it cannot start: the command must end with exit 1 and a one-line reason
// (src/cli.ts: "a port in use…: its message, and the stack only when asked for"), not crash with
// an unhandled 'error' event nor stay alive reconnecting to Redis. Run through bin/causeway.js in a
// child process, since what is checked is that the process ends; the spawn timeout only guards
// against a hang and is far above any start-up time.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeys, REDIS_URL, testRedis } from '../support/redis.ts';
import { MINIMAL, testEnv } from '../config/support.ts';

const env = testEnv();
const dir = mkdtempSync(join(tmpdir(), 'causeway-audit-start-'));

function configFile(redisSection: string): string {
  const file = join(dir, `causeway-${randomBytes(4).toString('hex')}.yaml`);
  writeFileSync(file, `${redisSection}\nlogging: { level: warn }\nmedia: { store: { type: fs, dir: ${join(dir, 'media')} } }\n${MINIMAL}`);
  return file;
}

function start(file: string, port: number): { status: number | null; stderr: string } {
  const child = spawnSync(process.execPath, ['bin/causeway.js', 'start', '--config', file, '--port', String(port), '--json'], {
    env: { ...process.env, ...env, CAUSEWAY_DEBUG: '' },
    encoding: 'utf8',
    timeout: 90_000,
  });
  return { status: child.status, stderr: child.stderr };
}

const prefixes: string[] = [];
afterAll(async () => {
  const { redis, cleanup } = testRedis();
  for (const p of prefixes) await deleteKeys(redis, p);
  await cleanup();
});

describe('causeway start that cannot start', () => {
  it('exits 1 saying Redis is unreachable (no password, no endless reconnecting)', () => {
    // Nothing listens on port 1.
    const r = start(configFile('redis: { url: "redis://:audit-pw-VALUE@127.0.0.1:1" }'), 0);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^causeway start: .*Redis.*ECONNREFUSED/m);
    expect(r.stderr).not.toContain('audit-pw-VALUE');
  });

  it('exits 1 with the reason when its port is taken, without a stack trace', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const prefix = `cwtest-audit-${randomBytes(5).toString('hex')}`;
    prefixes.push(prefix);
    try {
      const r = start(configFile(`redis: { url: "${REDIS_URL}", key_prefix: ${prefix} }`), port);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^causeway start: listen EADDRINUSE/m);
      expect(r.stderr).not.toContain("Unhandled 'error' event");
      expect(r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
