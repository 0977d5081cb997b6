// The mock hub: a real HIP/1 server (docs/mock-hub.md, /work/shared/spec/hub-protocol.md) with
// simulated hub users whose devices are real libsignal clients, a control API and fault injection.
// All state is in memory — it is a mock for contract tests, local demos and providers' CI.
// Embeddable (`startMockHub(config)` with `listen.port: 0` in tests) and run by the CLI.
import pino from 'pino';
import type { Logger } from 'pino';
import { Secret } from '../config/secret.ts';
import { mockHubConfigSchema } from './config.ts';
import type { MockHubConfig, MockHubConfigInput } from './config.ts';
import { HubCore } from './hub.ts';
import { SESSION_PATH, listen } from './server.ts';

export type { MockHubConfig, MockHubConfigInput } from './config.ts';
export type { HubCore } from './hub.ts';
export type { InboxEntry, ReceivedReceipt } from './sim-inbox.ts';
export { SESSION_PATH, SUBPROTOCOL } from './server.ts';

export interface MockHub {
  /** http://host:port */
  url: string;
  /** ws://host:port/hip/v1/session */
  wsUrl: string;
  port: number;
  /** In-process access to the hub's state (directory, simulated users, mailboxes, counters…). */
  core: HubCore;
  /** Clears every timer, closes every session and socket and the server. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
}

/** Validates a raw `mock_hub` configuration (throws a zod error naming the field). */
export function parseMockHubConfig(input: unknown): MockHubConfig {
  return mockHubConfigSchema.parse(input);
}

export async function startMockHub(config: MockHubConfig | MockHubConfigInput, opts: StartOptions = {}): Promise<MockHub> {
  // an already validated config carries Secret objects, which the schema would not take again
  const cfg = config.admin_token instanceof Secret ? (config as MockHubConfig) : mockHubConfigSchema.parse(config);
  const log = (opts.logger ?? pino({ level: 'info', name: 'mock-hub' }, pino.destination(2))).child({ component: 'mock-hub' });
  const core = new HubCore(cfg, log);
  await core.init();
  let server;
  try {
    server = await listen(core, cfg.listen.host, cfg.listen.port);
  } catch (err) {
    await core.close();
    throw err;
  }
  const host = cfg.listen.host === '0.0.0.0' || cfg.listen.host === '::' ? '127.0.0.1' : cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host;
  const url = `http://${host}:${server.port}`;
  core.baseUrl = (cfg.public_url ?? url).replace(/\/$/, '');
  log.debug({ url }, 'mock hub listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}${SESSION_PATH}`,
    port: server.port,
    core,
    close: () => {
      closing ??= (async () => {
        await core.close();
        await server.close();
        log.info('mock hub closed');
      })();
      return closing;
    },
  };
}
