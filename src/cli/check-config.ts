// `causeway check-config FILE`: validate a config file (adapters included) and print a summary
// that never shows a secret: URLs lose their credentials and query, secrets are not printed at all.
import { loadCausewayConfig } from '../config/causeway.ts';
import type { CausewayConfig } from '../config/schema.ts';
import { adapterConfigSchemas } from '../../adapters/registry.ts';
import { parseCommandArgs, UsageError, type CliIo } from './io.ts';
import { USAGE } from './usage.ts';
import { safeUrl } from '../logging.ts';

export async function checkConfigCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('check-config', args, {}, 1);
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const file = positionals[0];
  if (file === undefined) throw new UsageError('check-config: missing FILE');
  const registry = io.adapterSchemas ?? adapterConfigSchemas;
  const config = loadCausewayConfig(file, registry); // ConfigError → exit 1 in main
  io.stdout.write(`${file}: ok\n${summary(config)}`);
  return 0;
}

/** A few lines about what the file configures; no secret values. */
export function summary(c: CausewayConfig): string {
  const adapters = c.adapters.length === 0 ? 'none' : c.adapters.map((a) => `${a.id} (${a.type})`).join(', ');
  const lines: Array<[string, string]> = [
    ['hub', `${safeUrl(c.hub.url)} (hub id "${c.hub.hub_id}")`],
    ['provider', c.hub.provider_id],
    ['adapters', adapters],
    ['server', `${c.server.host}:${c.server.port}${c.server.public_url ? `, public ${safeUrl(c.server.public_url)}` : ''}`],
    ['redis', `${safeUrl(c.redis.url)} (prefix "${c.redis.key_prefix}"${c.redis.tls ? ', tls' : ''})`],
    ['store', `${c.store.key_encryption_keys.length} key-encryption key(s), active "${c.store.active_key_id}"`],
  ];
  if (c.mock_hub) {
    const m = c.mock_hub;
    lines.push(['mock hub', `${m.listen.host}:${m.listen.port}, ${m.providers.length} provider(s), ${m.users.length} user(s)`]);
  }
  return lines.map(([k, v]) => `  ${(k ?? '').padEnd(10)}${v ?? ''}\n`).join('');
}
