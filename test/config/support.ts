// Shared fixtures of the config and CLI tests: generated keys, the environment variables the
// example config references, a minimal valid config, and a helper that returns a ConfigError.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { adapterConfigSchemas } from '../../adapters/registry.ts';
import { ConfigError } from '../../src/config/errors.ts';

/** The adapter registry the CLI uses (adapters/registry.ts). */
export const registry = adapterConfigSchemas;

export function ed25519Pem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export const kek = (): string => randomBytes(32).toString('base64');

/** Recognizable secret values: tests assert that none of them is ever printed or logged. */
export const SECRET_VALUES = {
  CAUSEWAY_PUSH_SECRET: 'push-secret-VALUE-1f3a',
  CAUSEWAY_METRICS_TOKEN: 'metrics-token-VALUE-5d2e',
  CAUSEWAY_WEBHOOK_API_TOKEN: 'api-token-VALUE-a0b9',
  CAUSEWAY_WEBHOOK_SECRET: 'webhook-secret-VALUE-77aa',
  CAUSEWAY_MOCK_HUB_ADMIN_TOKEN: 'hub-admin-VALUE-0c4d',
  CAUSEWAY_MOCK_HUB_PUSH_SECRET: 'hub-push-VALUE-e9f0',
} as const;

/** Every variable config/causeway.example.yaml references, with valid values. */
export function exampleEnv(): Record<string, string> {
  return { ...SECRET_VALUES, CAUSEWAY_SIGNING_KEY: ed25519Pem(), CAUSEWAY_KEK_2025: kek(), CAUSEWAY_KEK_2026: kek() };
}

/** Sets variables on process.env; returns a function that restores the previous values. */
export function setEnv(vars: Record<string, string>): () => void {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** The smallest valid config: only what has no default. Needs CW_TEST_SIGNING_KEY and CW_TEST_KEK. */
export const MINIMAL = `hub:
  provider_id: birdy
  signing_key: { env: CW_TEST_SIGNING_KEY }
store:
  key_encryption_keys:
    - id: k1
      key: { env: CW_TEST_KEK }
  active_key_id: k1
`;

export function testEnv(): Record<string, string> {
  return { CW_TEST_SIGNING_KEY: ed25519Pem(), CW_TEST_KEK: kek() };
}

/** Runs `fn`, which must throw a ConfigError, and returns it. */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}
