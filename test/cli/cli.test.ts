// The `causeway` command run in-process (output captured): help, usage errors (exit 2),
// check-config on a good file (exit 0, a summary without secrets) and a bad one (exit 1, every
// issue with its path and line); and once through bin/causeway.js in a child process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { SECRET_VALUES, exampleEnv, kek, setEnv } from '../config/support.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

const env = exampleEnv();
let restore: () => void;
beforeAll(() => {
  restore = setEnv(env);
});
afterAll(() => restore());

function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'causeway-cli-')), name);
  writeFileSync(file, text);
  return file;
}

describe('causeway help', () => {
  it.each([[[]], [['help']], [['--help']], [['-h']], [['check-config', '--help']]])('%j prints the usage', async (argv) => {
    const r = await run(argv);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const word of ['help', 'check-config FILE', 'mock-hub', '--config FILE', '--port N', '--host H', '--log-level', 'demo']) {
      expect(r.stdout).toContain(word);
    }
  });
});

describe('usage errors exit 2', () => {
  it.each([
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['--frobnicate'], 'unknown option "--frobnicate"'],
    [['check-config'], 'check-config: missing FILE'],
    [['check-config', 'a.yaml', 'b.yaml'], 'check-config: unexpected argument "b.yaml"'],
    [['check-config', '--strict', 'a.yaml'], "Unknown option '--strict'"],
    [['mock-hub', '--port', 'eighty'], 'mock-hub: --port must be an integer 0–65535, got "eighty"'],
    [['mock-hub', '--port'], "Option '-p, --port <value>' argument missing"],
    [['mock-hub', '--log-level', 'loud'], 'mock-hub: --log-level must be one of fatal, error, warn, info, debug, trace'],
    [['mock-hub', 'extra'], 'mock-hub: unexpected argument "extra"'],
    [['demo', '--fast'], "Unknown option '--fast'"],
  ])('%j', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('Run "causeway help" for usage.');
  });
});

describe('causeway check-config', () => {
  it('accepts the example config and prints a summary without secrets', async () => {
    const r = await run(['check-config', 'config/causeway.example.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('config/causeway.example.yaml: ok');
    expect(r.stdout).toMatch(/hub\s+ws:\/\/127\.0\.0\.1:7300 \(hub id "hub"\)/);
    expect(r.stdout).toMatch(/provider\s+birdy/);
    expect(r.stdout).toMatch(/adapters\s+birdy-api \(webhook\)/);
    for (const v of [...Object.values(SECRET_VALUES), env.CAUSEWAY_KEK_2025, env.CAUSEWAY_KEK_2026]) expect(r.stdout).not.toContain(v);
    expect(r.stdout).not.toContain('PRIVATE KEY');
  });

  it('does not print credentials or query strings of URLs', async () => {
    const file = tempFile(
      'c.yaml',
      `hub:\n  provider_id: birdy\n  signing_key: { env: CAUSEWAY_SIGNING_KEY }\nstore:\n  key_encryption_keys: [{ id: a, key: "${kek()}" }]\n  active_key_id: a\nredis:\n  url: redis://user:pw-VALUE-db@redis.internal:6380/2?password=q-VALUE\n`,
    );
    const r = await run(['check-config', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('redis://***@redis.internal:6380/2');
    expect(r.stdout).not.toContain('VALUE');
  });

  it('rejects a bad config with every issue, path and line on stderr (exit 1)', async () => {
    const file = tempFile(
      'bad.yaml',
      `hub:
  provider_id: birdy
  signing_key: { env: CAUSEWAY_SIGNING_KEY }
  push_secret: { env: CAUSEWAY_CLI_TEST_UNSET }
store:
  key_encryption_keys: [{ id: a, key: "${kek()}" }]
  active_key_id: a
adapters:
  - id: api
    type: webhook
    config:
      api_tokens: ["${SECRET_VALUES.CAUSEWAY_WEBHOOK_API_TOKEN}"]
      webhook_url: [not, a, url]
      webhook_secret: s
`,
    );
    const r = await run(['check-config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `${file}:4:3: hub.push_secret: environment variable CAUSEWAY_CLI_TEST_UNSET is not set`,
      `${file}:13:7: adapters[0].config.webhook_url: expected string, got list`,
    ]);
    expect(r.stderr).not.toContain(SECRET_VALUES.CAUSEWAY_WEBHOOK_API_TOKEN);
  });

  it('reports a file that does not exist (exit 1)', async () => {
    const r = await run(['check-config', '/nonexistent/causeway.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('/nonexistent/causeway.yaml: cannot read the file (ENOENT)\n');
  });
});

describe('bin/causeway.js', () => {
  it('runs check-config on the example in a child process', () => {
    const child = spawnSync(process.execPath, ['bin/causeway.js', 'check-config', 'config/causeway.example.yaml'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(child.stdout.split('\n')[0]).toBe('config/causeway.example.yaml: ok');
  });

  it('exits 2 on an unknown command', () => {
    const child = spawnSync(process.execPath, ['bin/causeway.js', 'nope'], { encoding: 'utf8', timeout: 20_000 });
    expect(child.status).toBe(2);
    expect(child.stderr).toContain('unknown command "nope"');
  });
});
