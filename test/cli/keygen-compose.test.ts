// `causeway keygen` output is what docker-compose.yml's services read: the compose configs must
// validate with exactly those variables, so the documented container set-up cannot drift.
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
    expect(Object.keys(a).sort()).toEqual(['CAUSEWAY_KEK', 'CAUSEWAY_MOCK_HUB_ADMIN_TOKEN', 'CAUSEWAY_SIGNING_KEY']);
    expect(Buffer.from(a.CAUSEWAY_KEK as string, 'base64')).toHaveLength(32);
    expect(a.CAUSEWAY_KEK).not.toBe(b.CAUSEWAY_KEK);
    const key = await ProviderKey.load(a.CAUSEWAY_SIGNING_KEY as string);
    expect(key.alg).toBe('EdDSA');
  });

  it('config/compose/*.yaml validate with the variables keygen prints', async () => {
    const env = await keygen();
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const c = loadCausewayConfig('config/compose/causeway.yaml', registry);
      expect(c.hub.url).toBe('ws://mock-hub:7300');
      expect(c.store.key_encryption_keys[0]?.key.reveal()).toBe(env.CAUSEWAY_KEK);
      const h = loadMockHubConfig('config/compose/mock-hub.yaml');
      expect(h.providers[0]?.jwks_url).toBe('http://causeway:7310/.well-known/jwks.json');
    } finally {
      process.env = saved;
    }
  });
});
