// A minimal config validates and every section gets its documented defaults; adapter configs are
// replaced by their validated form; the loader is generic over schemas; mock hub configs load both
// bare and as the mock_hub section; the embedded development config validates.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseCausewayConfig, parseMockHubConfig } from '../../src/config/causeway.ts';
import { defaultConfigYaml } from '../../src/config/default-config.ts';
import { formatPath } from '../../src/config/errors.ts';
import { inspectSigningKey } from '../../src/config/fields.ts';
import { ProviderKey } from '../../src/hub/provider-key.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { Secret } from '../../src/config/secret.ts';
import { MINIMAL, configErrorOf, registry, setEnv, testEnv } from './support.ts';

let restore: () => void;
const env = testEnv();
beforeAll(() => {
  restore = setEnv(env);
});
afterAll(() => restore());

describe('a minimal config', () => {
  it('validates and resolves its secrets', () => {
    const c = parseCausewayConfig(MINIMAL, 'min.yaml', registry);
    expect(c.hub.provider_id).toBe('birdy');
    expect(c.hub.signing_key).toBeInstanceOf(Secret);
    expect(c.hub.signing_key.reveal()).toBe(env.CW_TEST_SIGNING_KEY);
    expect(c.store.key_encryption_keys[0]?.key.reveal()).toBe(env.CW_TEST_KEK);
    expect(c.store.active_key_id).toBe('k1');
  });

  it('gets every section’s defaults', () => {
    const c = parseCausewayConfig(MINIMAL, 'min.yaml', registry);
    expect(c.server).toEqual({ host: '127.0.0.1', port: 7310, shutdown_grace_ms: 10_000 });
    expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', key_prefix: 'causeway', tls: false });
    const { signing_key: _key, signing_key_id: kid, ...hub } = c.hub;
    const info = inspectSigningKey(env.CW_TEST_SIGNING_KEY as string);
    expect(kid).toBe(typeof info === 'string' ? info : info.thumbprint);
    expect(kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(hub).toEqual({
      url: 'ws://127.0.0.1:7300',
      hub_id: 'hub',
      provider_id: 'birdy',
      push_tolerance_s: 300,
      session: { max_open: 10_000, idle_close_s: 300, reconnect_min_ms: 500, reconnect_max_ms: 30_000 },
      token_ttl_s: 120,
      prekeys: { one_time: 100, low_water: 10, rotate_signed_days: 7 },
    });
    expect(c.policy.identity_change).toBe('continue');
    const actions = Object.fromEntries(
      Object.entries(c.policy.downgrade).map(([f, r]) => {
        expect(r.inbound.action).toBe(r.outbound.action);
        return [f, r.outbound.action];
      }),
    );
    expect(actions).toEqual({
      sticker: 'convert', status: 'drop', disappearing: 'convert', 'view-once': 'reject', poll: 'convert', location: 'convert',
      contact: 'convert', reaction: 'convert', edit: 'convert', delete: 'convert', call: 'reject',
    });
    expect(c.adapters).toEqual([]);
    expect(c.limits).toEqual({
      max_message_bytes: 65_536,
      max_media_bytes: { image: 16_777_216, video: 67_108_864, audio: 16_777_216, voice: 16_777_216, document: 104_857_600 },
      max_retry_attempts: 12,
      retry_backoff_ms: { base: 1000, max: 300_000 },
      sent_retention_h: 24,
      concurrent_conversations: 256,
    });
    expect(c.logging).toEqual({ level: 'info', pretty: false });
    expect(c.metrics).toEqual({ enabled: true, path: '/metrics' });
    expect(c.mock_hub).toBeUndefined();
  });

  it('keeps a partial section’s other defaults', () => {
    const c = parseCausewayConfig(`${MINIMAL}limits:\n  retry_backoff_ms: { base: 50 }\n`, 'f.yaml', registry);
    expect(c.limits.retry_backoff_ms).toEqual({ base: 50, max: 300_000 });
    expect(c.limits.max_retry_attempts).toBe(12);
  });

  it('overrides a single direction of one downgrade rule', () => {
    const c = parseCausewayConfig(`${MINIMAL}policy:\n  downgrade:\n    sticker: { inbound: { action: drop } }\n`, 'f.yaml', registry);
    expect(c.policy.downgrade.sticker).toEqual({ outbound: { action: 'convert' }, inbound: { action: 'drop' } });
  });
});

describe('adapters', () => {
  const text = `${MINIMAL}adapters:
  - id: birdy-api
    type: webhook
    config:
      api_tokens: [tok-1, { env: CW_TEST_KEK }]
      webhook_url: https://birdy.example/events
      webhook_secret: hmac-key
`;

  it('replaces each config by its validated form, defaults and secrets included', () => {
    const c = parseCausewayConfig(text, 'f.yaml', registry);
    const cfg = c.adapters[0]?.config as Record<string, unknown>;
    expect(cfg).toMatchObject({ path_prefix: '/v1', webhook_url: 'https://birdy.example/events', timeout_ms: 5000, max_attempts: 20 });
    expect(cfg.webhook_secret).toBeInstanceOf(Secret);
    expect((cfg.api_tokens as Secret[]).map((s) => s.reveal())).toEqual(['tok-1', env.CW_TEST_KEK]);
  });

  it('are left as read when no registry is given', () => {
    const c = parseCausewayConfig(text.replace('type: webhook', 'type: unknown-kind'), 'f.yaml');
    expect(c.adapters[0]).toMatchObject({ id: 'birdy-api', type: 'unknown-kind', config: { webhook_secret: 'hmac-key' } });
  });
});

describe('the signing key', () => {
  it('accepts Ed25519 PEM and a P-256 private JWK, and names the algorithm', () => {
    expect(inspectSigningKey(env.CW_TEST_SIGNING_KEY as string)).toMatchObject({ alg: 'EdDSA' });
    const jwk = JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }));
    const info = inspectSigningKey(jwk);
    expect(info).toMatchObject({ alg: 'ES256', publicJwk: { kty: 'EC', crv: 'P-256' } });
    expect(typeof info === 'object' && info.publicJwk.d).toBeUndefined();
    const restoreJwk = setEnv({ CW_TEST_JWK: jwk });
    try {
      expect(parseCausewayConfig(MINIMAL.replace('CW_TEST_SIGNING_KEY', 'CW_TEST_JWK'), 'f.yaml').hub.signing_key.reveal()).toBe(jwk);
    } finally {
      restoreJwk();
    }
  });

  it('accepts PKCS#8 DER in base64 (what keygen prints), and refuses base64 that is not a private key', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    expect(inspectSigningKey(der)).toMatchObject({ alg: 'ES256', publicJwk: { kty: 'EC', crv: 'P-256' } });
    expect((await ProviderKey.load(der)).alg).toBe('ES256');
    const spki = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    expect(inspectSigningKey(spki)).toBe('cannot read the private key (bad JSON, bad PEM, bad DER, or not a private key)');
    await expect(ProviderKey.load(spki)).rejects.toThrow(/neither a private JWK nor PKCS#8/);
  });

  it('refuses a public key', () => {
    const pub = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(inspectSigningKey(pub)).toMatch(/^expected a private JWK/);
  });
});

describe('the generic loader', () => {
  const schema = z.object({ name: z.string(), n: z.number().int().default(3) }).strict();

  it('validates any schema and reports paths and lines', () => {
    expect(parseConfigText('name: x\n', 'g.yaml', schema)).toEqual({ name: 'x', n: 3 });
    const err = configErrorOf(() => parseConfigText('name: x\nn: 1.5\n', 'g.yaml', schema));
    expect(err.format()).toBe('g.yaml:2:4: n: expected integer, got number');
  });

  it('runs extra checks in the same pass', () => {
    const err = configErrorOf(() =>
      parseConfigText('name: 5\nn: 2\n', 'g.yaml', schema, { check: () => [{ path: ['n'], message: 'too even' }] }),
    );
    expect(err.format()).toBe('g.yaml:1:7: name: expected string, got integer\ng.yaml:2:4: n: too even');
  });

  it('formats paths in YAML key spelling', () => {
    expect(formatPath(['adapters', 1, 'config', 'url'])).toBe('adapters[1].config.url');
    expect(formatPath(['policy', 'downgrade', 'view-once'])).toBe('policy.downgrade.view-once');
    expect(formatPath(['a', 'has space', 0])).toBe('a["has space"][0]');
    expect(formatPath([])).toBe('');
  });
});

describe('mock hub configs', () => {
  it('load bare, with defaults', () => {
    const c = parseMockHubConfig('admin_token: t\nusers:\n  - phone: "+447700900123"\n', 'hub.yaml');
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 7300 });
    expect(c.users[0]?.devices).toEqual([0]);
    expect(c.admin_token.reveal()).toBe('t');
  });

  it('load from the mock_hub section only, reporting issues with the full path', () => {
    const text = `${MINIMAL.replace('provider_id: birdy', 'provider_id: NOT VALID')}mock_hub:\n  admin_token: t\n  users:\n    - phone: "0044"\n`;
    const err = configErrorOf(() => parseMockHubConfig(text, 'both.yaml'));
    expect(err.issues).toEqual([
      { path: 'mock_hub.users[0].phone', line: 12, column: 14, message: 'an E.164 phone number such as "+447700900123"' },
    ]);
  });

  it('refuse a Causeway config without a mock_hub section', () => {
    expect(configErrorOf(() => parseMockHubConfig(MINIMAL, 'c.yaml')).format()).toBe('c.yaml: mock_hub: this Causeway config has no mock_hub section');
  });
});

describe('the embedded development config', () => {
  it('validates, with fresh keys each time and a JWKS matching its signing key', () => {
    const a = defaultConfigYaml({ mockHubAdminToken: 'dev-token' });
    const b = defaultConfigYaml();
    const c = parseCausewayConfig(a, '(default)', registry);
    expect(c.hub.provider_id).toBe('birdy');
    expect(c.mock_hub?.admin_token.reveal()).toBe('dev-token');
    expect(parseCausewayConfig(b, '(default)', registry).hub.signing_key.reveal()).not.toBe(c.hub.signing_key.reveal());
    const info = inspectSigningKey(c.hub.signing_key.reveal());
    if (typeof info === 'string') throw new Error(info);
    const jwk = c.mock_hub?.providers[0]?.jwks?.keys[0];
    expect(jwk).toMatchObject({ ...info.publicJwk, kid: c.hub.signing_key_id, alg: 'EdDSA' });
    expect(c.hub.signing_key_id).toBe(info.thumbprint);
  });
});
