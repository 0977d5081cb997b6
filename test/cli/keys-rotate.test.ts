// `causeway keys rotate` end to end: a config gains a second key-encryption key and makes it active;
// the command re-seals what the first one sealed, and a dry run changes nothing.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { createAccount } from '../../src/crypto/account.ts';
import { Keyring } from '../../src/crypto/keyring.ts';
import { RedisSignalStore } from '../../src/crypto/redis-signal-store.ts';
import { REDIS_URL, testRedis } from '../support/redis.ts';

const { redis, prefix, cleanup } = testRedis();
afterAll(cleanup);

function configFile(keys: Array<{ id: string; key: string }>, active: string): string {
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().trim().split('\n').map((l) => `    ${l}`).join('\n');
  const file = join(mkdtempSync(join(tmpdir(), 'causeway-keys-')), 'c.yaml');
  writeFileSync(file, `redis: { url: ${REDIS_URL}, key_prefix: ${prefix} }
hub:
  provider_id: birdy
  signing_key: |
${pem}
store:
  key_encryption_keys:
${keys.map((k) => `    - { id: ${k.id}, key: ${k.key} }`).join('\n')}
  active_key_id: ${active}
`);
  return file;
}

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } });
  return { code, out, err };
}

describe('causeway keys rotate', () => {
  it('re-seals under the new active key; a dry run only counts', async () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    await createAccount(new RedisSignalStore(redis, new Keyring([{ id: 'k1', key: k1 }], 'k1'), prefix, 'alice@birdy.interop'), { preKeys: 2, kyberPreKeys: 2 });
    const file = configFile([{ id: 'k1', key: k1.toString('base64') }, { id: 'k2', key: k2.toString('base64') }], 'k2');
    const dry = await run(['keys', 'rotate', '--config', file, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/^would re-seal \d+ record/);
    const real = await run(['keys', 'rotate', '--config', file]);
    expect(real.code).toBe(0);
    expect(real.out).toMatch(/^re-sealed [1-9]\d* record\(s\) under key "k2"/);
    expect(real.out).toContain('nothing is left under other keys');
    const again = await run(['keys', 'rotate', '--config', file]);
    expect(again.out).toMatch(/^re-sealed 0 record/);
    const onlyK2 = new RedisSignalStore(redis, new Keyring([{ id: 'k2', key: k2 }], 'k2'), prefix, 'alice@birdy.interop');
    expect(await onlyK2.preKeys.count()).toBe(2);
    expect(real.out + real.err).not.toContain(k2.toString('base64'));
  });

  it('exits 1 naming the key when records are sealed with a key missing from the config', async () => {
    const file = configFile([{ id: 'k9', key: randomBytes(32).toString('base64') }], 'k9');
    const r = await run(['keys', 'rotate', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not in the config \(k2\)/);
    expect((await run(['keys', 'spin', '--config', file])).code).toBe(2);
  });

  it('refuses to run with other bytes under a key id already in use, re-sealing nothing', async () => {
    const file = configFile([{ id: 'k2', key: randomBytes(32).toString('base64') }], 'k2');
    const r = await run(['keys', 'rotate', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/id "k2" is not the key this Redis/);
    expect(r.out).not.toMatch(/re-sealed/);
  });
});
