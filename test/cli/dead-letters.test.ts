// `causeway dead-letters`: a message the hub refused for good (or that ran out of attempts) is listed with its reason, and a
// replay puts it back in line; once the hub user has opted in, the running core delivers it.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { harness, until } from '../delivery/harness.ts';
import { REDIS_URL } from '../support/redis.ts';

const BOB = '447700900456@hub';
let h: Awaited<ReturnType<typeof harness>>;
let file: string;

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } });
  return { code, out, err };
}

beforeAll(async () => {
  h = await harness({
    users: [
      { phone: '+447700900456', name: 'Bob', devices: [0], third_party: { enabled: false, providers: [] } },
      { phone: '+447700900123', name: 'Ada', devices: [0], script: { echo: false, receipts: false, read: false, delay_ms: 0 } },
    ],
  });
  await h.core.setInterop('rec', 'alice', true);
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().trim().split('\n').map((l) => `    ${l}`).join('\n');
  file = join(mkdtempSync(join(tmpdir(), 'causeway-dl-')), 'c.yaml');
  writeFileSync(file, `redis: { url: ${REDIS_URL}, key_prefix: ${h.prefix} }\nhub:\n  provider_id: birdy\n  signing_key: |\n${pem}\nstore:\n  key_encryption_keys: [{ id: k1, key: ${h.kek.toString('base64')} }]\n  active_key_id: k1\n`);
});
afterAll(() => h.close());

describe('causeway dead-letters', () => {
  it('lists a permanently failed message and replays it', async () => {
    const { messageId } = await h.core.submit('rec', { idempotencyKey: 'dl-1', from: 'alice', to: BOB, text: 'hello Bob' });
    await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'failed'), 15_000, 'failed');
    const list = await run(['dead-letters', 'list', '--config', file]);
    expect(list.code).toBe(0);
    expect(list.out).toContain(messageId);
    expect(list.out).toContain('not-opted-in');
    expect(list.out).not.toContain('hello Bob');

    await h.control('PUT', `/users/${BOB}/third-party`, { enabled: true, providers: ['*'] });
    const replay = await run(['dead-letters', 'replay', messageId, '--config', file]);
    expect(replay.code).toBe(0);
    await h.core.outbound.sweep(); // the running core's periodic sweep, without waiting for it
    await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'sent'), 15_000, 'sent after replay');
    expect((await run(['dead-letters', 'list', '--config', file])).out).not.toContain(messageId);
    const missing = await run(['dead-letters', 'replay', 'NOSUCHID01', '--config', file]);
    expect(missing.code).toBe(1);
  });

  it('replays a message that ran out of attempts (its retry job failed) once the hub recovers', async () => {
    await h.control('PUT', '/faults', { error: { rate: 1, code: 503 } });
    const { messageId } = await h.core.submit('rec', { idempotencyKey: 'dl-2', from: 'alice', to: '447700900123@hub', text: 'after the outage' });
    const failed = await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'failed'), 30_000, 'failed');
    expect(failed).toMatchObject({ reason: 'expired' });
    await h.control('DELETE', '/faults');
    expect((await run(['dead-letters', 'list', '--config', file])).out).toContain(messageId);
    expect((await run(['dead-letters', 'replay', messageId, '--config', file])).code).toBe(0);
    await h.core.outbound.sweep();
    await until(() => h.connector.statuses.find((s) => s.messageId === messageId && s.state === 'sent'), 15_000, 'sent after replay');
    const inbox = (await h.control('GET', '/users/447700900123@hub/inbox')).body as unknown as { messages: Array<{ id: string; decrypted: boolean }> };
    expect(inbox.messages.filter((m) => m.id === messageId && m.decrypted)).toHaveLength(1);
  });
});
