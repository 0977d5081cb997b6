// The commands that work on Redis (`keys rotate`, `dead-letters`) when Redis does not answer: exit 1
// with one line naming Redis and why, no ioredis "Unhandled error event" stack traces, and never
// the password of the Redis URL. Through bin/causeway.js, since ioredis prints to the process's
// own stderr.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MINIMAL, testEnv } from '../config/support.ts';

const env = testEnv();
const file = join(mkdtempSync(join(tmpdir(), 'causeway-audit-redis-')), 'causeway.yaml');
// Nothing listens on port 1.
writeFileSync(file, `redis: { url: "redis://:audit-pw-VALUE@127.0.0.1:1" }\n${MINIMAL}`);

describe.each([
  [['keys', 'rotate', '--dry-run']],
  [['dead-letters', 'list']],
])('causeway %j with Redis down', (argv) => {
  it('exits 1 saying Redis cannot be reached', () => {
    const child = spawnSync(process.execPath, ['bin/causeway.js', ...argv, '--config', file], {
      env: { ...process.env, ...env, CAUSEWAY_DEBUG: '' },
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(child.status).toBe(1);
    expect(child.stdout).toBe('');
    expect(child.stderr).toMatch(/^causeway [a-z-]+: cannot connect to Redis \(connect ECONNREFUSED 127\.0\.0\.1:1\)$/m);
    expect(child.stderr).not.toContain('Unhandled error event');
    expect(child.stderr).not.toMatch(/^\s+at /m);
    expect(child.stderr).not.toContain('audit-pw-VALUE');
  });
});
