// The outbox's Lua scripts (key layout in outbox.ts): the submit of one message or of a batch
// (idempotency claim, sealed record, queued status, lane entry in one script), the lane lease, and
// the lane's head. Run with src/redis-script.ts (EVALSHA) or plain EVAL for the tiny ones.
import { RedisScript } from '../redis-script.ts';
import { STATUS_RETENTION_S } from './status-log.ts';

// KEYS: idempotency key, record, status list, lane, lanes, statuses due. ARGV: idempotency value,
// keep s, sealed record, queued status, id, lane name, failed status ('' unless the policy ended
// it), now ms. → {0, existing value} when the key was taken; else the message is written and
// appended to its lane: {1, lane head}; or, ended by the policy, written with its failed status,
// due for its report to the adapter (StatusLog#dueKey) as FINISH makes a final status, and no lane
// entry: {2, false}.
export const SUBMIT = new RedisScript(`if not redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return {0, redis.call('get', KEYS[1])} end
local failed = ARGV[7]
redis.call('hset', KEYS[2], 'data', ARGV[3], 'state', failed == '' and 'queued' or 'failed', 'attempts', 0)
redis.call('expire', KEYS[2], ARGV[2])
redis.call('rpush', KEYS[3], ARGV[4])
if failed ~= '' then
  redis.call('rpush', KEYS[3], failed)
  redis.call('expire', KEYS[3], ${STATUS_RETENTION_S})
  redis.call('zadd', KEYS[6], ARGV[8], ARGV[5])
  return {2, false}
end
redis.call('expire', KEYS[3], ${STATUS_RETENTION_S})
redis.call('rpush', KEYS[4], ARGV[5])
redis.call('sadd', KEYS[5], ARGV[6])
return {1, redis.call('lindex', KEYS[4], 0)}`);

// KEYS: lanes, statuses due, then per message: idempotency key, record, status list, lane. ARGV:
// keep s, now ms, then per message: idempotency value, sealed record, queued status, id, lane name,
// failed status ('' unless the policy ended it). Per message, in order, as SUBMIT:
// {0, existing value} when the key was taken; {1, 1 if it is its lane's head} when queued;
// {2, 0} when recorded as failed (and due for its report).
export const SUBMIT_MANY = new RedisScript(`local out = {}
for i = 0, (#KEYS - 2) / 4 - 1 do
  local k, a = 2 + 4 * i, 2 + 6 * i
  local idem, rec, st, lane = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  if not redis.call('set', idem, ARGV[a + 1], 'EX', ARGV[1], 'NX') then
    out[i + 1] = {0, redis.call('get', idem)}
  else
    local failed = ARGV[a + 6]
    redis.call('hset', rec, 'data', ARGV[a + 2], 'state', failed == '' and 'queued' or 'failed', 'attempts', 0)
    redis.call('expire', rec, ARGV[1])
    redis.call('rpush', st, ARGV[a + 3])
    if failed == '' then
      redis.call('expire', st, ${STATUS_RETENTION_S})
      local len = redis.call('rpush', lane, ARGV[a + 4])
      redis.call('sadd', KEYS[1], ARGV[a + 5])
      out[i + 1] = {1, len == 1 and 1 or 0}
    else
      redis.call('rpush', st, failed)
      redis.call('expire', st, ${STATUS_RETENTION_S})
      redis.call('zadd', KEYS[2], ARGV[2], ARGV[a + 4])
      out[i + 1] = {2, 0}
    end
  end
end
return out`);

// Lua fragment: pops `id` if it is the lane's head and sets `nxt` to the next head (false when the
// lane is empty; an emptied lane is then no longer leased by `token`).
const popIfHead = (lane: string, lease: string, id: string, token: string): string => `if redis.call('lindex', ${lane}, 0) == ${id} then redis.call('lpop', ${lane}) end
local nxt = redis.call('lindex', ${lane}, 0)
if not nxt and redis.call('get', ${lease}) == ${token} then redis.call('del', ${lease}) end`;

// Lua fragment: takes or renews the lane's lease (KEYS[lease]) for ARGV[token] and loads the record
// (KEYS[rec]), counting the attempt of a queued one; then the lane's next id when the record is its
// head. → {data, state, frame, attempts before this one, replayed at or false, next or false}, or 0
// when another holds it.
const claimIn = (rec: string, lease: string, lane: string, id: string, token: string, leaseMs: string): string => `local holder = redis.call('get', ${lease})
if holder and holder ~= ${token} then return 0 end
redis.call('set', ${lease}, ${token}, 'PX', ${leaseMs})
local v = redis.call('hmget', ${rec}, 'data', 'state', 'frame', 'attempts', 'replayed')
if v[2] == 'queued' then redis.call('hincrby', ${rec}, 'attempts', 1) end
v[6] = false
if redis.call('lindex', ${lane}, 0) == ${id} then v[6] = redis.call('lindex', ${lane}, 1) end
return v`;

// KEYS: record, lease, lane; ARGV: token, lease ms, id. See claimIn.
export const CLAIM = new RedisScript(claimIn('KEYS[1]', 'KEYS[2]', 'KEYS[3]', 'ARGV[3]', 'ARGV[1]', 'ARGV[2]'));

// KEYS: record, status list, lane, lease, dead, next record, statuses due. ARGV: state, keep s,
// status, id, token, dead-letter member ('' unless failed), now ms, expected next id ('' = claim
// nothing), lease ms.
// Finishes the message (state, retention, status, the status due for its report to the adapter
// until the worker says it was handed over, dead letter) unless it is no longer queued (a
// second holder of the lane finishing it too keeps the first outcome), and pops it if it is the
// lane's head; an emptied lane is no longer leased by `token`. → {1 or 0 when it was finished
// before, next or false, claimed…} (claimIn's answer) when the next head is the one expected and
// was claimed for `token` in the same script.
export const FINISH = new RedisScript(`local fresh = redis.call('hget', KEYS[1], 'state') == 'queued'
if fresh then
  redis.call('hset', KEYS[1], 'state', ARGV[1])
  redis.call('expire', KEYS[1], ARGV[2])
  redis.call('rpush', KEYS[2], ARGV[3])
  redis.call('expire', KEYS[2], ${STATUS_RETENTION_S})
  redis.call('zadd', KEYS[7], ARGV[7], ARGV[4])
  if ARGV[6] ~= '' then
    redis.call('zadd', KEYS[5], ARGV[7], ARGV[6])
    -- Dead letters older than a failed record's retention name records that are gone.
    redis.call('zremrangebyscore', KEYS[5], '-inf', '(' .. (tonumber(ARGV[7]) - tonumber(ARGV[2]) * 1000))
  end
end
local done = fresh and 1 or 0
${popIfHead('KEYS[3]', 'KEYS[4]', 'ARGV[4]', 'ARGV[5]')}
if not nxt then return {done, false} end
if ARGV[8] == '' or nxt ~= ARGV[8] then return {done, nxt} end
local function claim()
${claimIn('KEYS[6]', 'KEYS[4]', 'KEYS[3]', 'nxt', 'ARGV[5]', 'ARGV[9]')}
end
local c = claim()
if c == 0 then return {done, nxt} end
return {done, nxt, c[1], c[2], c[3], c[4], c[5], c[6]}`);

export const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end return 0`;
export const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;

// KEYS: lane, lease; ARGV: id, token. See popIfHead; → the next head.
export const POP_IF_HEAD = `${popIfHead('KEYS[1]', 'KEYS[2]', 'ARGV[1]', 'ARGV[2]')}
return nxt`;

// KEYS: lane, lanes, lease; ARGV: lane name. → {head, 1 if some process holds the lane's lease}; {}
// for an empty lane, which is dropped from `lanes`.
export const HEAD_OR_FORGET = `local head = redis.call('lindex', KEYS[1], 0)
if not head then redis.call('srem', KEYS[2], ARGV[1]) return {} end
return {head, redis.call('exists', KEYS[3])}`;
