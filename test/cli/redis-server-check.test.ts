// A Redis that would lose or refuse what Causeway writes is refused at connect (src/redis-connect.ts):
// one that evicts keys under a memory limit, a Redis Cluster node, a read-only replica, one older
// than BullMQ's minimum. The judgement from INFO is checked on sample INFO texts; the refusal end
// to end on real redis-servers started here with those settings (never the shared one's config).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { checkRedisServer } from '../../src/redis-connect.ts';
import { freePort } from '../adapters/webhook/support.ts';
import { MINIMAL, testEnv } from '../config/support.ts';

const info = (fields: Record<string, string>): string =>
  ['# Server', ...Object.entries(fields).map(([k, v]) => `${k}:${v}`), ''].join('\r\n');
const GOOD = { redis_version: '7.0.15', role: 'master', cluster_enabled: '0', maxmemory: '0', maxmemory_policy: 'noeviction', aof_enabled: '1' };

describe('checkRedisServer', () => {
  it('accepts a standalone primary of 7.0 that does not evict, with AOF', () => {
    expect(checkRedisServer(info(GOOD))).toEqual({ problems: [], notes: [] });
  });

  it('refuses eviction under a memory limit, naming the policy and the fix', () => {
    const c = checkRedisServer(info({ ...GOOD, maxmemory: '104857600', maxmemory_policy: 'volatile-lru' }));
    expect(c.problems).toEqual([expect.stringMatching(/evicts keys when full \(maxmemory 104857600 bytes, maxmemory-policy volatile-lru\).*set maxmemory-policy noeviction/)]);
  });

  it('accepts an eviction policy without a memory limit (nothing is ever evicted) and a limit with noeviction', () => {
    expect(checkRedisServer(info({ ...GOOD, maxmemory_policy: 'allkeys-lru' })).problems).toEqual([]);
    expect(checkRedisServer(info({ ...GOOD, maxmemory: '104857600' })).problems).toEqual([]);
  });

  it('refuses a Cluster node, a replica and a server older than 6.2, each with its reason', () => {
    expect(checkRedisServer(info({ ...GOOD, cluster_enabled: '1' })).problems).toEqual([expect.stringMatching(/Redis Cluster node/)]);
    expect(checkRedisServer(info({ ...GOOD, role: 'slave' })).problems).toEqual([expect.stringMatching(/read-only replica/)]);
    expect(checkRedisServer(info({ ...GOOD, redis_version: '6.0.16' })).problems).toEqual(['Redis 6.0.16 is older than 6.2.0, the oldest Causeway runs on']);
    expect(checkRedisServer(info({ ...GOOD, redis_version: '6.2.0' })).problems).toEqual([]);
    expect(checkRedisServer(info({ ...GOOD, redis_version: '10.0.1' })).problems).toEqual([]);
  });

  it('notes a server without an append-only file, and judges nothing INFO leaves out', () => {
    expect(checkRedisServer(info({ ...GOOD, aof_enabled: '0' })).notes).toEqual([expect.stringMatching(/no append-only file/)]);
    expect(checkRedisServer('')).toEqual({ problems: [], notes: [] });
  });
});

const servers: Array<{ child: ChildProcess; dir: string }> = [];
afterAll(() => {
  for (const s of servers) {
    s.child.kill('SIGKILL');
    rmSync(s.dir, { recursive: true, force: true });
  }
});

/** A redis-server of our own with these settings; its URL once it answers. */
async function redisWith(args: string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'causeway-redis-check-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' });
  servers.push({ child, dir });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      return url;
    } catch {
      await new Promise((res) => setTimeout(res, 100));
    } finally {
      r.disconnect();
    }
  }
  throw new Error(`redis-server ${args.join(' ')} did not start`);
}

function deadLettersList(url: string): { status: number | null; stdout: string; stderr: string } {
  const file = join(mkdtempSync(join(tmpdir(), 'causeway-redis-check-cfg-')), 'causeway.yaml');
  writeFileSync(file, `redis: { url: "${url}", key_prefix: "redis-check-${process.pid}" }\n${MINIMAL}`);
  return spawnSync(process.execPath, ['bin/causeway.js', 'dead-letters', 'list', '--config', file], {
    env: { ...process.env, ...testEnv(), CAUSEWAY_DEBUG: '' },
    encoding: 'utf8',
    timeout: 90_000,
  });
}

describe('connecting to a Redis that would lose what Causeway writes', () => {
  it('refuses one that evicts keys, and uses the same server once it does not', async () => {
    const url = await redisWith(['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']);
    const refused = deadLettersList(url);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(new RegExp(`^causeway dead-letters: refusing the Redis server at ${url.replace(/\./g, '\\.')}: it evicts keys when full \\(maxmemory 67108864 bytes, maxmemory-policy allkeys-lru\\).*noeviction$`, 'm'));

    const admin = new Redis(url);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    admin.disconnect();
    const ok = deadLettersList(url);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
  });

  it('refuses a Redis Cluster node', async () => {
    const url = await redisWith(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${process.pid}.conf`]);
    const r = deadLettersList(url);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/refusing the Redis server at .*: it is a Redis Cluster node/);
  });
});
