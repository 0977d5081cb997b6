// `causeway keygen` output is what docker-compose.yml's services read: the compose configs must
// validate with exactly those variables, so the documented container set-up cannot drift.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { loadCausewayConfig, loadMockHubConfig } from '../../src/config/causeway.ts';
import { ProviderKey } from '../../src/hub/provider-key.ts';
import { registry } from '../config/support.ts';

async function keygen(): Promise<Record<string, string>> {
  let out = '';
  const code = await main(['keygen'], { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => undefined } });
  expect(code).toBe(0);
  const env: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^([A-Z_]+)=(?:'(.*)'|(.*))$/.exec(line);
    if (m) env[m[1] as string] = (m[2] ?? m[3]) as string;
  }
  return env;
}

describe('causeway keygen and the compose configs', () => {
  it('prints a usable signing key, a 32-byte KEK and a token, different each time', async () => {
    const a = await keygen();
    const b = await keygen();
    expect(Object.keys(a).sort()).toEqual(['CAUSEWAY_KEK', 'CAUSEWAY_MOCK_HUB_ADMIN_TOKEN', 'CAUSEWAY_SIGNING_KEY', 'CAUSEWAY_WEBHOOK_API_TOKEN', 'CAUSEWAY_WEBHOOK_SECRET']);
    expect(Buffer.from(a.CAUSEWAY_KEK as string, 'base64')).toHaveLength(32);
    expect(a.CAUSEWAY_KEK).not.toBe(b.CAUSEWAY_KEK);
    const key = await ProviderKey.load(a.CAUSEWAY_SIGNING_KEY as string);
    expect(key.alg).toBe('EdDSA');
  });

  it('prints values that need no quoting, so compose, `docker run --env-file` and a shell read the same', async () => {
    let out = '';
    expect(await main(['keygen'], { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => undefined } })).toBe(0);
    const lines = out.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toHaveLength(5);
    // --env-file takes everything after the first `=` literally, quotes included.
    for (const l of lines) expect(l).toMatch(/^[A-Z_]+=[A-Za-z0-9+/=_-]+$/);
    const literal = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const dir = mkdtempSync(join(tmpdir(), 'causeway-keygen-'));
    writeFileSync(join(dir, '.env'), out);
    const sourced = execFileSync('bash', ['-c', 'set -a; . ./.env; printf "%s\\n" "$CAUSEWAY_SIGNING_KEY" "$CAUSEWAY_KEK" "$CAUSEWAY_MOCK_HUB_ADMIN_TOKEN" "$CAUSEWAY_WEBHOOK_API_TOKEN" "$CAUSEWAY_WEBHOOK_SECRET"'], { cwd: dir, encoding: 'utf8', env: {} });
    expect(sourced.split('\n').slice(0, 5)).toEqual([literal.CAUSEWAY_SIGNING_KEY, literal.CAUSEWAY_KEK, literal.CAUSEWAY_MOCK_HUB_ADMIN_TOKEN, literal.CAUSEWAY_WEBHOOK_API_TOKEN, literal.CAUSEWAY_WEBHOOK_SECRET]);
    expect((await ProviderKey.load(literal.CAUSEWAY_SIGNING_KEY as string)).alg).toBe('EdDSA');
  });

  it('config/compose/*.yaml validate with the variables keygen prints', async () => {
    const env = await keygen();
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const c = loadCausewayConfig('config/compose/causeway.yaml', registry);
      expect(c.hub.url).toBe('ws://mock-hub:7300');
      // A provider trying it out has the webhook API, with the tokens keygen printed.
      expect(c.adapters).toEqual([expect.objectContaining({ type: 'webhook', config: expect.objectContaining({ webhook_url: 'http://host.docker.internal:8080/causeway/events' }) })]);
      const cfg = c.adapters[0]?.config as { api_tokens: Array<{ reveal(): string }>; webhook_secret: { reveal(): string } };
      expect(cfg.api_tokens[0]?.reveal()).toBe(env.CAUSEWAY_WEBHOOK_API_TOKEN);
      expect(cfg.webhook_secret.reveal()).toBe(env.CAUSEWAY_WEBHOOK_SECRET);
      expect(c.store.key_encryption_keys[0]?.key.reveal()).toBe(env.CAUSEWAY_KEK);
      const h = loadMockHubConfig('config/compose/mock-hub.yaml');
      expect(h.providers[0]?.jwks_url).toBe('http://causeway:7310/.well-known/jwks.json');
    } finally {
      process.env = saved;
    }
  });
});
