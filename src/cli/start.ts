// `causeway start --config FILE`: run the sidecar until SIGINT/SIGTERM. A config with a `mock_hub`
// section also runs that mock hub in-process (development and demos only).
import { loadCausewayConfig } from '../config/causeway.ts';
import { createLogger } from '../logging.ts';
import { startCauseway } from '../main.ts';
import { adapterConfigSchemas } from '../../adapters/registry.ts';
import { parseCommandArgs, stringOption, UsageError, waitForStop, type CliIo } from './io.ts';
import { logLevelOption, prettyOption } from './log-options.ts';
import { portOption } from './mock-hub.ts';
import { USAGE } from './usage.ts';

export async function startCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(
    'start',
    args,
    { config: { type: 'string', short: 'c' }, port: { type: 'string', short: 'p' }, 'log-level': { type: 'string' }, pretty: { type: 'boolean' }, json: { type: 'boolean' } },
    0,
  );
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const file = stringOption(values, 'config') ?? io.env.CAUSEWAY_CONFIG;
  if (file === undefined) throw new UsageError('start: give --config FILE (or set CAUSEWAY_CONFIG)');
  let config = loadCausewayConfig(file, io.adapterSchemas ?? adapterConfigSchemas);
  const port = portOption('start', stringOption(values, 'port'));
  if (port !== undefined) config = { ...config, server: { ...config.server, port } };
  const logger = createLogger({
    level: values['log-level'] === undefined ? config.logging.level : logLevelOption('start', values),
    pretty: values.pretty === undefined && values.json === undefined ? config.logging.pretty : prettyOption(values, io),
    name: 'causeway',
    destination: io.stdout,
  });

  let hub: { close(): Promise<void> } | undefined;
  if (config.mock_hub) {
    const { startMockHub } = await import('../mock-hub/index.ts');
    const h = await startMockHub(config.mock_hub, { logger: logger.child({ name: 'mock-hub' }) });
    logger.warn(`embedded mock hub at ${h.wsUrl} (development only)`);
    hub = h;
  }
  const causeway = await startCauseway(config, { logger });
  const why = await waitForStop(io.signal);
  logger.info(`stopping (${why})`);
  await causeway.close();
  await hub?.close();
  return 0;
}
