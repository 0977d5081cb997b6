// Guards against two replicas (or a replica and `keys rotate`) configured with different key bytes
// under one key id: each would seal records the other cannot open, and that would show only later,
// as records failing authentication. The first process to use a key id records its check value
// (keyring.ts) in Redis; a process whose key under that id has another check value refuses to
// start, naming the id. Check values are HMACs of a fixed label: they reveal nothing of the keys.
import type { Redis } from 'ioredis';
import { RedisScript } from '../redis-script.ts';
import { KeyringError, type Keyring } from './keyring.ts';

export class KeyMismatchError extends KeyringError {
  override readonly name = 'KeyMismatchError';
}

export function keyCheckKey(prefix: string): string {
  return `${prefix}:key-check`;
}

// KEYS: the check hash. ARGV: id, value, id, value… → the ids whose stored value differs; only when
// there is none are the ids not seen before recorded (a refused keyring leaves nothing behind).
const CHECK = new RedisScript(`local wrong = {}
for i = 1, #ARGV, 2 do
  local v = redis.call('hget', KEYS[1], ARGV[i])
  if v and v ~= ARGV[i + 1] then table.insert(wrong, ARGV[i]) end
end
if #wrong > 0 then return wrong end
for i = 1, #ARGV, 2 do redis.call('hsetnx', KEYS[1], ARGV[i], ARGV[i + 1]) end
return wrong`);

/** Records the check value of each configured key id not seen before; throws if one differs. */
export async function verifyKeyring(redis: Redis, prefix: string, ring: Keyring): Promise<void> {
  const wrong = ((await CHECK.run(redis, [keyCheckKey(prefix)], [...ring.checkValues()].flat())) as Buffer[]).map(String);
  if (wrong.length > 0) {
    throw new KeyMismatchError(
      `store.key_encryption_keys: the key${wrong.length > 1 ? 's' : ''} with id ${wrong.map((id) => `"${id}"`).join(', ')} ${wrong.length > 1 ? 'are' : 'is'} not the key this Redis (prefix ${prefix}) has seen under that id: another replica or an earlier run used different bytes. Give each key its own id.`,
    );
  }
}
