// `causeway mock-hub` in-process: starts from the embedded config or a --config file, listens where
// --port/--host say, logs where, answers /healthz and the control API with the configured token,
// and returns 0 once stopped. A config error exits 1 before anything listens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { exampleEnv, setEnv } from '../config/support.ts';

const env = exampleEnv();
let restore: () => void;
beforeAll(() => {
  restore = setEnv(env);
});
afterAll(() => restore());

interface Running {
  done: Promise<number>;
  stop(): void;
  output(): string;
  errors(): string;
  /** Resolves with the logged http URL once the hub listens. */
  url: Promise<string>;
}

function start(argv: string[], extraEnv: NodeJS.ProcessEnv = {}): Running {
  const controller = new AbortController();
  let stdout = '';
  let stderr = '';
  let found: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => (found = resolve));
  const done = main(['mock-hub', ...argv], {
    stdout: {
      write: (s: string) => {
        stdout += s;
        const m = /mock hub listening on (http:\/\/[^ ]+) (?:\(bound to [^)]+\) )?\(HIP\/1 at (ws:\/\/[^)]+)\)/.exec(stdout);
        if (m?.[1] !== undefined) found(m[1]);
      },
    },
    stderr: { write: (s: string) => (stderr += s) },
    env: { ...process.env, ...extraEnv },
    signal: controller.signal,
  });
  return { done, stop: () => controller.abort(), output: () => stdout, errors: () => stderr, url };
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('causeway mock-hub', () => {
  it('on a wildcard host, logs a loopback URL to call and says that every interface is bound', async () => {
    const hub = start(['--port', '0', '--host', '0.0.0.0', '--json']);
    const url = await within(hub.url, 15_000, 'the listening line');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(hub.output()).toContain(`mock hub listening on ${url} (bound to 0.0.0.0, every interface) (HIP/1 at`);
    hub.stop();
    expect(await within(hub.done, 15_000, 'the command to return')).toBe(0);
  });

  it('runs the embedded config on the given port and host until stopped', async () => {
    const hub = start(['--port', '0', '--host', '127.0.0.1', '--json'], { CAUSEWAY_MOCK_HUB_ADMIN_TOKEN: 'cli-test-admin' });
    const url = await within(hub.url, 15_000, 'the listening line');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url).not.toBe('http://127.0.0.1:7300');
    expect(hub.output()).toContain(`(HIP/1 at ${url.replace('http', 'ws')}/hip/v1/session)`);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const providers = await fetch(`${url}/control/providers`, { headers: { authorization: 'Bearer cli-test-admin' } });
    expect(providers.status).toBe(200);
    expect(JSON.stringify(await providers.json())).toContain('birdy');
    hub.stop();
    expect(await within(hub.done, 15_000, 'the command to return')).toBe(0);
    expect(hub.output()).not.toContain('cli-test-admin');
    // JSON lines: every line of output parses
    for (const line of hub.output().trim().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('runs the mock_hub section of a Causeway config', async () => {
    const hub = start(['--config', 'config/causeway.example.yaml', '-p', '0', '--json']);
    const url = await within(hub.url, 15_000, 'the listening line');
    const denied = await fetch(`${url}/control/providers`, { headers: { authorization: 'Bearer wrong' } });
    expect(denied.status).toBe(401);
    const ok = await fetch(`${url}/control/providers`, { headers: { authorization: `Bearer ${env.CAUSEWAY_MOCK_HUB_ADMIN_TOKEN}` } });
    expect(ok.status).toBe(200);
    hub.stop();
    expect(await within(hub.done, 15_000, 'the command to return')).toBe(0);
  });

  it('exits 1 with the issues of a bad config, listening nowhere', async () => {
    const hub = start(['--config', 'config/does-not-exist.yaml', '--port', '0']);
    expect(await within(hub.done, 15_000, 'the command to return')).toBe(1);
    expect(hub.errors()).toBe('config/does-not-exist.yaml: cannot read the file (ENOENT)\n');
    expect(hub.output()).toBe('');
  });
});
