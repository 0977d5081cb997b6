// `causeway dead-letters list|replay --config FILE [ID]`: the messages that failed for good —
// provider messages the hub refused or that expired (outbound), and webhook events the provider
// never acknowledged (per webhook adapter). `replay ID` puts one back in line; a running Causeway
// picks it up within its sweep (outbound lanes: 30 s; webhook events: 5 s). Nothing is decrypted.
import { adapterConfigSchemas } from '../../adapters/registry.ts';
import { listDeadLetters, replayDeadLetter } from '../../adapters/webhook/dead-letters.ts';
import { loadCausewayConfig } from '../config/causeway.ts';
import { Keyring } from '../crypto/keyring.ts';
import { Outbox } from '../delivery/outbox.ts';
import { StatusLog } from '../delivery/status-log.ts';
import { parseCommandArgs, stringOption, UsageError, type CliIo } from './io.ts';
import { connectRedis } from '../redis-connect.ts';
import { USAGE } from './usage.ts';

export async function deadLettersCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('dead-letters', args, { config: { type: 'string', short: 'c' } }, 2);
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const [sub, id] = positionals;
  if (sub !== 'list' && sub !== 'replay') throw new UsageError('dead-letters: the subcommand is "list" or "replay ID"');
  if (sub === 'replay' && id === undefined) throw new UsageError('dead-letters replay: give the message or event id');
  const file = stringOption(values, 'config') ?? io.env.CAUSEWAY_CONFIG;
  if (file === undefined) throw new UsageError('dead-letters: give --config FILE (or set CAUSEWAY_CONFIG)');
  const config = loadCausewayConfig(file, io.adapterSchemas ?? adapterConfigSchemas);
  const prefix = config.redis.key_prefix;
  const redis = await connectRedis(config);
  const webhooks = config.adapters.filter((a) => a.type === 'webhook');
  const ring = new Keyring(
    config.store.key_encryption_keys.map((k) => ({ id: k.id, key: Buffer.from(k.key.reveal(), 'base64') })),
    config.store.active_key_id,
  );
  const log = new StatusLog(redis, prefix);
  const outbox = new Outbox(redis, ring, prefix, log);
  try {
    const outbound = await outbox.deadLetters(10_000);
    if (sub === 'list') {
      io.stdout.write(`outbound (${outbound.length}):\n`);
      for (const d of outbound) {
        const last = (await log.history(d.id)).at(-1);
        io.stdout.write(`  ${d.id}  ${d.user} → ${d.peer}  ${new Date(d.at).toISOString()}  ${last?.reason ?? ''}\n`);
      }
      for (const a of webhooks) {
        const list = await listDeadLetters({ redis, prefix, adapterId: a.id });
        io.stdout.write(`webhook adapter ${a.id} (${list.length}):\n`);
        for (const e of list) io.stdout.write(`  ${e.eventId}  ${e.type ?? ''}  ${e.user ?? ''}  ${e.lastError ?? ''}\n`);
      }
      return 0;
    }
    const out = outbound.find((d) => d.id === id);
    if (out) {
      await outbox.replay(out.user, out.peer, out.id);
      io.stdout.write(`outbound message ${out.id} queued again (${out.user} → ${out.peer})\n`);
      return 0;
    }
    for (const a of webhooks) {
      if (await replayDeadLetter({ redis, prefix, adapterId: a.id }, id as string)) {
        io.stdout.write(`webhook event ${id} of adapter ${a.id} queued again\n`);
        return 0;
      }
    }
    io.stderr.write(`dead-letters: no dead letter with id ${id}\n`);
    return 1;
  } finally {
    redis.disconnect();
  }
}
