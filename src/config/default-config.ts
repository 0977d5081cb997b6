// The embedded default configuration used by `causeway demo` (and by `causeway mock-hub` without
// --config): a sidecar for provider "birdy" talking to an embedded mock hub on loopback. Its keys
// are generated on every call, so nothing in the source is a usable credential; the mock hub's
// JWKS holds the public half of the generated signing key so that tokens verify.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { jwkThumbprint } from './fields.ts';

export interface DefaultConfigOptions {
  /** Bearer token of the mock hub's control API; random when not given. */
  mockHubAdminToken?: string;
  /** A webhook adapter (id `app`) for the demo provider; none when not given. */
  webhook?: { url: string; apiToken: string; secret: string };
  redisUrl?: string;
}

export const DEFAULT_PROVIDER_ID = 'birdy';

/** YAML text of a complete development config, with fresh keys. It validates with `configSchema`. */
export function defaultConfigYaml(opts: DefaultConfigOptions = {}): string {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().trim();
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const kid = jwkThumbprint(jwk);
  const publicJwk = JSON.stringify({ ...jwk, kid, alg: 'EdDSA', use: 'sig' });
  const kek = randomBytes(32).toString('base64');
  const adminToken = JSON.stringify(opts.mockHubAdminToken ?? randomBytes(24).toString('base64url'));
  const adapters = opts.webhook
    ? `adapters:
  - id: app
    type: webhook
    config:
      api_tokens: [${JSON.stringify(opts.webhook.apiToken)}]
      webhook_url: ${JSON.stringify(opts.webhook.url)}
      webhook_secret: ${JSON.stringify(opts.webhook.secret)}`
    : 'adapters: []';
  const redis = opts.redisUrl ? `redis:\n  url: ${JSON.stringify(opts.redisUrl)}\n` : '';
  const indentedPem = pem.split('\n').map((l) => `    ${l}`).join('\n');

  return `# Causeway's embedded development configuration (causeway demo). Keys are generated afresh on
# every start: nothing here is meant for production. See config/causeway.example.yaml.
server:
  host: 127.0.0.1
  port: 7310
${redis}hub:
  url: ws://127.0.0.1:7300
  hub_id: hub
  provider_id: ${DEFAULT_PROVIDER_ID}
  signing_key_id: ${kid}
  signing_key: |
${indentedPem}
store:
  key_encryption_keys:
    - id: dev
      key: ${kek}
  active_key_id: dev
${adapters}
logging:
  level: info
  pretty: true
mock_hub:
  listen: { host: 127.0.0.1, port: 7300 }
  hub_id: hub
  admin_token: ${adminToken}
  providers:
    - id: ${DEFAULT_PROVIDER_ID}
      name: BirdyChat
      jwks: { keys: [${publicJwk}] }
  users:
    - phone: "+447700900123"
      name: Alice
      devices: [0, 3]
      script: { echo: true, receipts: true, read: true, delay_ms: 200 }
    - phone: "+447700900456"
      name: Bob
      devices: [0]
`;
}
