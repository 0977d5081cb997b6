// `causeway mock-hub`: run the HIP/1 mock hub until SIGINT/SIGTERM (or the injected stop signal).
// The config comes from --config (a bare mock hub config, or the mock_hub section of a Causeway
// config) or from the embedded development config; --port/--host override where it listens.
import { loadMockHubConfig, parseMockHubConfig } from '../config/causeway.ts';
import { defaultConfigYaml } from '../config/default-config.ts';
import type { MockHubConfig } from '../mock-hub/config.ts';
import { createLogger } from '../logging.ts';
import { parseCommandArgs, stringOption, UsageError, waitForStop, type CliIo } from './io.ts';
import { USAGE } from './usage.ts';
import { logLevelOption, prettyOption } from './log-options.ts';

export async function mockHubCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(
    'mock-hub',
    args,
    {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'log-level': { type: 'string' },
      pretty: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    0,
  );
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const level = logLevelOption('mock-hub', values);
  const pretty = prettyOption(values, io);
  const port = portOption('mock-hub', stringOption(values, 'port'));
  const host = stringOption(values, 'host');
  if (host === '') throw new UsageError('mock-hub: --host must not be empty');

  const file = stringOption(values, 'config');
  let config: MockHubConfig =
    file !== undefined
      ? loadMockHubConfig(file)
      : parseMockHubConfig(defaultConfigYaml({ mockHubAdminToken: io.env.CAUSEWAY_MOCK_HUB_ADMIN_TOKEN }), '(embedded default config)');
  config = { ...config, listen: { host: host ?? config.listen.host, port: port ?? config.listen.port } };

  const logger = createLogger({ level, pretty, name: 'mock-hub', destination: io.stdout });
  const { startMockHub } = await import('../mock-hub/index.ts');
  const hub = await startMockHub(config, { logger });
  // hub.url is a local address to call; on a wildcard bind it is loopback, so say what was bound too.
  const bound = config.listen.host === '0.0.0.0' || config.listen.host === '::' ? ` (bound to ${config.listen.host}, every interface)` : '';
  logger.info(`mock hub listening on ${hub.url}${bound} (HIP/1 at ${hub.wsUrl})`);
  if (file === undefined && io.env.CAUSEWAY_MOCK_HUB_ADMIN_TOKEN === undefined) {
    logger.info('control API token is random: set CAUSEWAY_MOCK_HUB_ADMIN_TOKEN to use /control/*');
  }

  const why = await waitForStop(io.signal);
  logger.info(`stopping (${why})`);
  await hub.close();
  return 0;
}

export function portOption(command: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new UsageError(`${command}: --port must be an integer 0–65535, got "${v}"`);
  return n;
}
