// Every kind of config error is reported with its file, exact path, line and column, and a message
// that says what was expected; one pass reports them all.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCausewayConfig, loadCausewayConfig } from '../../src/config/causeway.ts';
import type { ConfigIssue } from '../../src/config/errors.ts';
import { MINIMAL, configErrorOf, registry, setEnv, testEnv } from './support.ts';

let restore: () => void;
const env = testEnv();
beforeAll(() => {
  restore = setEnv(env);
});
afterAll(() => restore());

const issuesOf = (text: string): readonly ConfigIssue[] => configErrorOf(() => parseCausewayConfig(text, 'f.yaml', registry)).issues;

const WEBHOOK_OK = `    config:
      api_tokens: [t]
      webhook_url: https://example.com/hook
      webhook_secret: s
`;

describe('config errors: path, line, column, message', () => {
  it('a wrong type deep inside adapters[1].config', () => {
    const text = `${MINIMAL}adapters:
  - id: first
    type: webhook
${WEBHOOK_OK}  - id: second
    type: webhook
    config:
      api_tokens: [t]
      webhook_url: 42
      webhook_secret: s
`;
    const err = configErrorOf(() => parseCausewayConfig(text, 'f.yaml', registry));
    expect(err.issues).toEqual([
      { path: 'adapters[1].config.webhook_url', line: 20, column: 20, message: 'expected string, got integer' },
    ]);
    expect(err.format()).toBe('f.yaml:20:20: adapters[1].config.webhook_url: expected string, got integer');
  });

  it('a missing required field, at the section that lacks it', () => {
    const text = MINIMAL.replace('  provider_id: birdy\n', '');
    expect(issuesOf(text)).toEqual([
      { path: 'hub.provider_id', line: 1, column: 1, message: 'missing required field (expected string)' },
    ]);
  });

  it('a missing required section at the top', () => {
    const text = MINIMAL.slice(MINIMAL.indexOf('store:'));
    const issues = issuesOf(text);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: 'hub', line: 1, message: 'missing required field (expected mapping)' });
  });

  it('an unknown key, at the key, listing the allowed ones', () => {
    const issues = issuesOf(`${MINIMAL}server:\n  host: 0.0.0.0\n  prot: 80\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: 'server.prot', line: 11, column: 3 });
    expect(issues[0]?.message).toBe('unknown key (allowed here: host, port, public_url, shutdown_grace_ms)');
  });

  it('a bad enum value, listing the allowed values', () => {
    const issues = issuesOf(`${MINIMAL}logging:\n  level: verbose\n`);
    expect(issues).toEqual([
      {
        path: 'logging.level',
        line: 10,
        column: 10,
        message: 'expected one of "fatal", "error", "warn", "info", "debug", "trace"; got "verbose"',
      },
    ]);
  });

  it('a bad enum deep in the policy', () => {
    const issues = issuesOf(`${MINIMAL}policy:\n  downgrade:\n    view-once:\n      inbound: { action: explode }\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: 'policy.downgrade.view-once.inbound.action', line: 12, column: 26 });
  });

  it('a secret from an unset environment variable', () => {
    const text = MINIMAL.replace('{ env: CW_TEST_SIGNING_KEY }', '{ env: CW_TEST_NOT_SET_ANYWHERE }');
    expect(issuesOf(text)).toEqual([
      { path: 'hub.signing_key', line: 3, column: 3, message: 'environment variable CW_TEST_NOT_SET_ANYWHERE is not set' },
    ]);
  });

  it('a secret from a file that does not exist', () => {
    const text = MINIMAL.replace('{ env: CW_TEST_KEK }', '{ file: /nonexistent/causeway/kek }');
    expect(issuesOf(text)).toEqual([
      { path: 'store.key_encryption_keys[0].key', line: 7, column: 7, message: 'cannot read secret file /nonexistent/causeway/kek: ENOENT' },
    ]);
  });

  it('a secret of the wrong shape', () => {
    const issues = issuesOf(`${MINIMAL}metrics:\n  token: 12345\n`);
    expect(issues).toEqual([
      {
        path: 'metrics.token',
        line: 10,
        column: 10,
        message: 'expected a secret: a non-empty string, { env: VARIABLE } or { file: PATH }; got integer',
      },
    ]);
  });

  it('a key-encryption key that is not 32 bytes, or not base64', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    let issues = issuesOf(MINIMAL.replace('{ env: CW_TEST_KEK }', short));
    expect(issues).toEqual([{ path: 'store.key_encryption_keys[0].key', line: 7, column: 12, message: 'expected base64 of 32 bytes, got 16 bytes' }]);
    issues = issuesOf(MINIMAL.replace('{ env: CW_TEST_KEK }', '"not base64!"'));
    expect(issues[0]?.message).toBe('expected base64 (RFC 4648, with padding) of 32 random bytes');
  });

  it('an active_key_id that names no key', () => {
    expect(issuesOf(MINIMAL.replace('active_key_id: k1', 'active_key_id: k9'))).toEqual([
      { path: 'store.active_key_id', line: 8, column: 18, message: 'names no key in key_encryption_keys (ids: k1)' },
    ]);
  });

  it('a signing key of an unsupported type, without quoting it', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const restoreRsa = setEnv({ CW_TEST_RSA: rsa });
    try {
      const err = configErrorOf(() => parseCausewayConfig(MINIMAL.replace('CW_TEST_SIGNING_KEY', 'CW_TEST_RSA'), 'f.yaml', registry));
      expect(err.issues).toHaveLength(1);
      expect(err.issues[0]).toMatchObject({ path: 'hub.signing_key', line: 3 });
      expect(err.issues[0]?.message).toMatch(/^unsupported key type \(rsa\)/);
      expect(err.format()).not.toContain(rsa.split('\n')[1]);
    } finally {
      restoreRsa();
    }
  });

  it('a YAML syntax error, with its line', () => {
    const issues = issuesOf('hub:\n  provider_id: [birdy\nstore: {}\n');
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]).toMatchObject({ path: '', line: 3, column: 1 });
    expect(issues[0]?.message).toMatch(/^YAML: /);
  });

  it('a duplicate key, at the second one, naming the first line', () => {
    const issues = issuesOf(`${MINIMAL}logging:\n  level: info\n  level: debug\n`);
    expect(issues).toEqual([{ path: 'logging.level', line: 11, column: 3, message: 'duplicate key (first defined on line 10)' }]);
  });

  it('an alias without an anchor, and a key that is not a scalar', () => {
    expect(issuesOf(`${MINIMAL}logging: *nowhere\n`)).toEqual([
      { path: 'logging', line: 9, column: 10, message: 'alias *nowhere has no anchor before it' },
    ]);
    expect(issuesOf(`${MINIMAL}? [a, b]\n: 1\n`)).toEqual([{ path: '', line: 9, column: 3, message: 'keys must be plain scalars (strings)' }]);
  });

  it('anchors and merge keys work inside a section', () => {
    const c = parseCausewayConfig(`${MINIMAL}limits:\n  retry_backoff_ms: { <<: &b { base: 7 }, max: 9 }\n`, 'f.yaml', registry);
    expect(c.limits.retry_backoff_ms).toEqual({ base: 7, max: 9 });
  });

  it('an empty file, and one with only comments', () => {
    for (const text of ['', '\n\n', '# nothing here\n   # at all\n']) {
      const err = configErrorOf(() => parseCausewayConfig(text, 'empty.yaml', registry));
      expect(err.format()).toBe('empty.yaml:1:1: the file is empty (nothing but comments or blank lines); expected a mapping of configuration sections');
    }
  });

  it('a top level that is not a mapping', () => {
    expect(issuesOf('- a\n- b\n')).toEqual([{ path: '', line: 1, column: 1, message: 'expected mapping, got list' }]);
  });

  it('an empty section value is named as such', () => {
    expect(issuesOf(`${MINIMAL}metrics:\n`)[0]?.message).toBe('expected mapping, got null (an empty value)');
  });

  it('an unknown adapter type lists the known ones; a duplicate adapter id is an error', () => {
    const text = `${MINIMAL}adapters:
  - id: one
    type: pigeon
  - id: one
    type: webhook
${WEBHOOK_OK}`;
    expect(issuesOf(text)).toEqual([
      { path: 'adapters[0].type', line: 11, column: 11, message: 'unknown adapter type "pigeon" (known types: matrix, webhook)' },
      { path: 'adapters[1].id', line: 12, column: 9, message: 'duplicate adapter id (also adapters[0])' },
    ]);
  });

  it('missing fields of an adapter config are reported at the adapter', () => {
    const issues = issuesOf(`${MINIMAL}adapters:\n  - id: one\n    type: webhook\n`);
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ['adapters[0].config.api_tokens', 10],
      ['adapters[0].config.webhook_url', 10],
      ['adapters[0].config.webhook_secret', 10],
    ]);
  });

  it('reports every issue of the file in one pass, sorted by line', () => {
    const text = `server:
  port: "7310"
hub:
  provider_id: Birdy
  signing_key: { env: CW_TEST_SIGNING_KEY }
store:
  key_encryption_keys: []
  active_key_id: k1
adapters:
  - id: one
    type: webhook
    config: { webhook_url: ftp://x, api_tokens: [t], webhook_secret: s }
limits:
  retry_backoff_ms: { base: 2000, max: 1000 }
  sent_retention_h: 1
`;
    const err = configErrorOf(() => parseCausewayConfig(text, 'f.yaml', registry));
    expect(err.issues.map((i) => `${i.line}:${i.path}`)).toEqual([
      '2:server.port',
      '4:hub.provider_id',
      '7:store.key_encryption_keys',
      '12:adapters[0].config.webhook_url',
      '14:limits.retry_backoff_ms.max',
      '15:limits.sent_retention_h',
    ]);
    expect(err.format().split('\n')).toHaveLength(6);
    expect(err.format().split('\n')[0]).toBe('f.yaml:2:9: server.port: expected number, got string');
    expect(err.issues[5]?.message).toBe('must be >= 24');
  });

  it('a file that cannot be read', () => {
    const err = configErrorOf(() => loadCausewayConfig('/nonexistent/causeway.yaml', registry));
    expect(err.format()).toBe('/nonexistent/causeway.yaml: cannot read the file (ENOENT)');
  });

  it('loads from a file, naming the file in every issue', () => {
    const dir = mkdtempSync(join(tmpdir(), 'causeway-config-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `${MINIMAL}redis:\n  url: http://localhost\n`);
    const err = configErrorOf(() => loadCausewayConfig(file, registry));
    expect(err.format()).toBe(`${file}:10:8: redis.url: expected a redis:// or rediss:// URL such as redis://127.0.0.1:6379`);
  });
});
