// The event store's Lua scripts (key layout in store.ts), run with src/redis-script.ts (EVALSHA,
// binary replies).
import { RedisScript } from '../../src/redis-script.ts';

export type Script = RedisScript;
const script = (source: string): Script => new RedisScript(source);

// Lua fragment: the first `count` entries of a lane, flat: id, blob or false, retry or false, …
const HEADS = (ev: string, retry: string) => `
local function heads(lane, count)
  local out = {}
  for _, h in ipairs(redis.call('LRANGE', lane, 0, count - 1)) do
    table.insert(out, h)
    table.insert(out, redis.call('HGET', ${ev}, h))
    table.insert(out, redis.call('HGET', ${retry}, h))
  end
  return out
end`;

// KEYS: ev, meta, lane, lanes, lease, retry. ARGV: id, blob, meta, user, token ('' = do not take
// the lease), lease ms, count. → {-1} if already stored; {n} stored (lane length n); {n, 'self'}
// stored and the lease taken, this event being the head; {n, {heads…}} the lease taken.
export const ENQUEUE = script(`${HEADS('KEYS[1]', 'KEYS[6]')}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {-1} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
local n = redis.call('RPUSH', KEYS[3], ARGV[1])
if ARGV[5] == '' or not redis.call('SET', KEYS[5], ARGV[5], 'NX', 'PX', ARGV[6]) then return {n} end
if n == 1 then return {n, 'self'} end
return {n, heads(KEYS[3], tonumber(ARGV[7]))}`);

// KEYS: ev, meta, lane, lanes, dead, dead-info, retry, lease. ARGV: user, mode (done|dead), info,
// now ms, token, lease ms, keep (1: go on, 0: release the lease), count, then the event ids.
// Removes those ids from the lane's head, in order, while they match; → {removed, 'lost'} when the
// lease is not (or no longer) ours, {removed, 'empty'} (lease released), {removed, 'next', {heads…}}.
export const FINISH = script(`${HEADS('KEYS[1]', 'KEYS[7]')}
local removed = 0
for i = 9, #ARGV do
  local id = ARGV[i]
  if redis.call('LINDEX', KEYS[3], 0) ~= id then break end
  redis.call('LPOP', KEYS[3])
  redis.call('HDEL', KEYS[7], id)
  if ARGV[2] == 'done' then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  else
    redis.call('ZADD', KEYS[5], ARGV[4], id)
    redis.call('HSET', KEYS[6], id, ARGV[3])
  end
  removed = removed + 1
end
local left = redis.call('LLEN', KEYS[3])
if left == 0 then redis.call('SREM', KEYS[4], ARGV[1]) end
if redis.call('GET', KEYS[8]) ~= ARGV[5] then return {removed, 'lost'} end
if left == 0 or ARGV[7] ~= '1' then
  redis.call('DEL', KEYS[8])
  return {removed, 'empty'}
end
redis.call('PEXPIRE', KEYS[8], ARGV[6])
return {removed, 'next', heads(KEYS[3], tonumber(ARGV[8]))}`);

// KEYS: ev, retry, lanes, then lane and lease of each user. ARGV: token, lease ms, count, the users.
// Takes the lease of every non-empty lane that has none; drops empty lanes from `lanes`.
// → {{user, {heads…}}, …} for the lanes taken.
export const TAKE = script(`${HEADS('KEYS[1]', 'KEYS[2]')}
local out = {}
for i = 4, #ARGV do
  local lane, lease = KEYS[2 + (i - 3) * 2], KEYS[3 + (i - 3) * 2]
  if redis.call('LLEN', lane) == 0 then
    redis.call('SREM', KEYS[3], ARGV[i])
  elseif redis.call('SET', lease, ARGV[1], 'NX', 'PX', ARGV[2]) then
    table.insert(out, {ARGV[i], heads(lane, tonumber(ARGV[3]))})
  end
end
return out`);

// KEYS: leases. ARGV: token, lease ms. Extends the leases still ours; → 1-based indexes of the lost.
export const RENEW = script(`
local lost = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('PEXPIRE', KEYS[i], ARGV[2]) else table.insert(lost, i) end
end
return lost`);

// KEYS: lease. ARGV: token.
export const RELEASE = script(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`);

// KEYS: ev, lane, lanes, dead, dead-info. ARGV: id, user. Puts a dead letter back at the end of
// its lane; → lane length, -1 if it is not a dead letter, -2 if its body is gone.
export const REPLAY = script(`
if redis.call('ZSCORE', KEYS[4], ARGV[1]) == false then return -1 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -2 end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
return redis.call('RPUSH', KEYS[2], ARGV[1])`);
