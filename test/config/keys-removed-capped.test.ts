// Config keys an audit found accepted but unused or unsafe: server.admin_token is gone (an old
// config naming it gets a message saying so, at the key); millisecond delays that end in a Node
// timer are capped at 2^31−1 (a longer one would fire after 1 ms); the start log shows hub.url
// without the credentials it may carry, as check-config does.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterConfigSchemas } from '../../adapters/registry.ts';
import { parseCausewayConfig } from '../../src/config/causeway.ts';
import type { ConfigIssue } from '../../src/config/errors.ts';
import { startCauseway } from '../../src/main.ts';
import { deleteKeys, REDIS_URL, testRedis } from '../support/redis.ts';
import { MINIMAL, configErrorOf, ed25519Pem, kek, registry, setEnv, testEnv } from './support.ts';

let restore: () => void;
beforeAll(() => {
  restore = setEnv(testEnv());
});
afterAll(() => restore());

const issuesOf = (text: string): readonly ConfigIssue[] => configErrorOf(() => parseCausewayConfig(text, 'f.yaml', registry)).issues;

describe('server.admin_token (removed: there are no admin endpoints)', () => {
  it('is refused at the key with a message saying it was removed', () => {
    const issues = issuesOf(`${MINIMAL}server:\n  port: 7310\n  admin_token: { env: SOME_TOKEN }\n`);
    expect(issues).toEqual([{
      path: 'server.admin_token', line: 11, column: 3,
      message: 'was removed: Causeway has no admin endpoints, and the key never protected anything; delete it',
    }]);
  });

  it('no longer appears among the keys allowed in server', () => {
    const issues = issuesOf(`${MINIMAL}server:\n  prot: 80\n`);
    expect(issues[0]?.message).toBe('unknown key (allowed here: host, port, public_url, shutdown_grace_ms)');
  });

  it('is still the mock hub\'s own key', () => {
    const c = parseCausewayConfig(`${MINIMAL}mock_hub:\n  admin_token: t\n`, 'f.yaml', registry);
    expect(c.mock_hub?.admin_token.reveal()).toBe('t');
  });
});

describe('millisecond delays fit a Node timer', () => {
  const TOO_LONG = 2 ** 31;
  const message = 'must be <= 2147483647 (about 24.8 days: the longest delay a Node.js timer can wait)';
  it('refuses one above 2^31−1 in each field, naming it', () => {
    const text = `${MINIMAL}server: { shutdown_grace_ms: ${TOO_LONG} }
limits: { retry_backoff_ms: { base: ${TOO_LONG}, max: ${TOO_LONG} } }
`.replace('hub:\n', `hub:\n  session: { reconnect_min_ms: ${TOO_LONG}, reconnect_max_ms: ${TOO_LONG} }\n`);
    const issues = issuesOf(text);
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['hub.session.reconnect_min_ms', message],
      ['hub.session.reconnect_max_ms', message],
      ['server.shutdown_grace_ms', message],
      ['limits.retry_backoff_ms.base', message],
      ['limits.retry_backoff_ms.max', message],
    ]);
  });

  it('caps the media delays too', () => {
    const issues = issuesOf(`${MINIMAL}media: { fetch_timeout_ms: ${TOO_LONG}, sweep_interval_s: ${TOO_LONG} }\n`);
    expect(issues.map((i) => i.path)).toEqual(['media.fetch_timeout_ms', 'media.sweep_interval_s']);
    expect(issues[0]?.message).toBe(message);
  });

  it('accepts 2^31−1', () => {
    const c = parseCausewayConfig(`${MINIMAL}server: { shutdown_grace_ms: 2147483647 }\n`, 'f.yaml', registry);
    expect(c.server.shutdown_grace_ms).toBe(2 ** 31 - 1);
  });
});

describe('the start log', () => {
  const r = testRedis();
  afterAll(() => r.cleanup());

  it('shows hub.url without its credentials', async () => {
    const prefix = `${r.prefix}-main`;
    const pem = ed25519Pem().trim().split('\n').map((l) => `    ${l}`).join('\n');
    const yaml = `server: { host: 127.0.0.1, port: 0, shutdown_grace_ms: 100 }
redis: { url: ${REDIS_URL}, key_prefix: ${prefix} }
hub:
  url: ws://hubuser:hub-pass-SECRET@127.0.0.1:9/base?token=query-SECRET
  provider_id: birdy
  signing_key: |
${pem}
store:
  key_encryption_keys: [{ id: k1, key: ${kek()} }]
  active_key_id: k1
media: { store: { type: fs, dir: ${mkdtempSync(join(tmpdir(), `cw-keys-${randomBytes(3).toString('hex')}-`))} } }
`;
    const config = parseCausewayConfig(yaml, 'main.yaml', adapterConfigSchemas);
    const lines: string[] = [];
    const causeway = await startCauseway(config, { logger: pino({ level: 'trace' }, { write: (l: string) => void lines.push(l) }) });
    await causeway.close();
    await deleteKeys(r.redis, prefix);
    const listening = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'causeway listening');
    expect(listening?.hub).toBe('ws://***@127.0.0.1:9/base');
    expect(lines.join('\n')).not.toContain('SECRET');
  });
});
