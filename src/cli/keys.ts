// `causeway keys rotate --config FILE [--dry-run]`: after adding a new key-encryption key to
// store.key_encryption_keys and making it store.active_key_id, re-seal every record under it; the
// old key can be removed from the config once this reports nothing left under it. Safe to run
// while Causeway runs; a replica not yet restarted with the new active key still seals with the
// old one, which the closing second walk reports.
import { adapterConfigSchemas } from '../../adapters/registry.ts';
import { loadCausewayConfig } from '../config/causeway.ts';
import { verifyKeyring } from '../crypto/key-check.ts';
import { Keyring } from '../crypto/keyring.ts';
import { rewrapAll } from '../crypto/rewrap.ts';
import { parseCommandArgs, stringOption, UsageError, type CliIo } from './io.ts';
import { connectRedis } from '../redis-connect.ts';
import { USAGE } from './usage.ts';

export async function keysCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('keys', args, { config: { type: 'string', short: 'c' }, 'dry-run': { type: 'boolean' } }, 1);
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (positionals[0] !== 'rotate') throw new UsageError('keys: the subcommand is "rotate"');
  const file = stringOption(values, 'config') ?? io.env.CAUSEWAY_CONFIG;
  if (file === undefined) throw new UsageError('keys rotate: give --config FILE (or set CAUSEWAY_CONFIG)');
  const config = loadCausewayConfig(file, io.adapterSchemas ?? adapterConfigSchemas);
  const ring = new Keyring(
    config.store.key_encryption_keys.map((k) => ({ id: k.id, key: Buffer.from(k.key.reveal(), 'base64') })),
    config.store.active_key_id,
  );
  const redis = await connectRedis(config);
  try {
    await verifyKeyring(redis, config.redis.key_prefix, ring); // never re-seal under bytes another replica does not have
    const r = await rewrapAll(redis, ring, config.redis.key_prefix, { dryRun: values['dry-run'] === true });
    const verb = values['dry-run'] === true ? 'would re-seal' : 're-sealed';
    io.stdout.write(`${verb} ${r.rewrapped} record(s) under key "${ring.activeId}"; ${r.current} already under it; ${r.raced} rewritten meanwhile (${r.hashes} hashes scanned)\n`);
    if (r.unknownKey.length > 0) {
      const kids = [...new Set(r.unknownKey.map((u) => u.kid))].join(', ');
      io.stderr.write(`${r.unknownKey.length} record(s) are sealed with key(s) not in the config (${kids}): add them back to read and rotate those records\n`);
      return 1;
    }
    if (values['dry-run'] === true) return 0;
    // A second walk says whether the old keys may go: a replica still sealing with one of them
    // (its config not yet updated) leaves records behind that the first walk had passed.
    const left = (await rewrapAll(redis, ring, config.redis.key_prefix, { dryRun: true })).rewrapped;
    if (left > 0) {
      io.stderr.write(`${left} record(s) are still sealed with other keys (written meanwhile by a replica whose active key is not "${ring.activeId}"?): restart every replica with this config and run the command again before removing old keys\n`);
      return 1;
    }
    io.stdout.write(`nothing is left under other keys: they can be removed from store.key_encryption_keys\n`);
    return 0;
  } finally {
    redis.disconnect();
  }
}
