/**
 * The Lua scripts of the Redis live state. Each runs atomically in Redis, so a batch applied by two
 * replicas at once is applied once (the second finds the position moved) and a read sees no half batch.
 *
 * Every script gets KEYS[1] = `<prefix>:gen`, the state's generation (a random id), and ARGV[1] =
 * `<prefix>:`. The data lives under `<prefix>:<gen>:`:
 *
 *   pos          the applied position (the seq as given, compared as a number)
 *   n            hash: users (with anything logged), events (held, after the cap)
 *   e:<user>     list: the user's latest events, oldest first, each `[seq,item,type,value,timestamp]` as JSON
 *   f:<user>     the user's latest features, JSON
 *   cat          sorted set: item -> seq of its last change
 *   item         hash: item -> features JSON of its last upsert, '' once deleted
 *   c:<item>     hash: event type -> events applied for the item
 *
 * A new generation (clear) is a new, empty key space at once; the old one is deleted after. A flush
 * removes `gen` with everything else: apply then refuses ('stale') until the caller reads `position()`
 * again (0: rebuild from the log), which starts a new generation. Keys are built inside the scripts
 * from the prefix (users and items are not known before), so Redis Cluster is not supported.
 */
import { createHash } from 'node:crypto';

export interface Script {
  name: string;
  lua: string;
  sha: string;
}

function script(name: string, lua: string): Script {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** ARGV[2] = the generation to start if there is none. Returns {gen, pos}. */
export const POSITION = script('position', `
local gen = redis.call('GET', KEYS[1])
if not gen then
  gen = ARGV[2]
  redis.call('SET', KEYS[1], gen)
end
return {gen, redis.call('GET', ARGV[1] .. gen .. ':pos') or '0'}
`);

/**
 * ARGV[2] = the generation the caller read its position in, ARGV[3] = events kept per user, then six
 * per entry: seq, kind, user, item, type, payload (the event's JSON, the features' JSON, or '').
 * Returns {'ok'} or {'stale', the current generation or false}.
 */
export const APPLY = script('apply', `
local gen = redis.call('GET', KEYS[1])
if gen ~= ARGV[2] then return {'stale', gen} end
local b = ARGV[1] .. gen .. ':'
local pos = tonumber(redis.call('GET', b .. 'pos') or '0')
local max = tonumber(ARGV[3])
local last = nil
local users, events = 0, 0
for i = 4, #ARGV, 6 do
  local seq = tonumber(ARGV[i])
  if seq > pos then
    pos = seq
    last = ARGV[i]
    local kind = ARGV[i + 1]
    if kind == 'event' or kind == 'user' then
      local ek, fk = b .. 'e:' .. ARGV[i + 2], b .. 'f:' .. ARGV[i + 2]
      if redis.call('EXISTS', ek, fk) == 0 then users = users + 1 end
      if kind == 'event' then
        local n = redis.call('RPUSH', ek, ARGV[i + 5])
        events = events + 1
        if n > max then
          redis.call('LTRIM', ek, n - max, -1)
          events = events - (n - max)
        end
        redis.call('HINCRBY', b .. 'c:' .. ARGV[i + 3], ARGV[i + 4], 1)
      else
        redis.call('SET', fk, ARGV[i + 5])
      end
    elseif kind ~= 'exposure' then
      redis.call('ZADD', b .. 'cat', ARGV[i], ARGV[i + 3])
      redis.call('HSET', b .. 'item', ARGV[i + 3], ARGV[i + 5])
    end
  end
end
if last then
  redis.call('SET', b .. 'pos', last)
  if users ~= 0 then redis.call('HINCRBY', b .. 'n', 'users', users) end
  if events ~= 0 then redis.call('HINCRBY', b .. 'n', 'events', events) end
end
return {'ok'}
`);

/** ARGV[2] = events kept per user, ARGV[3..] = user ids. Returns per user {events, features or false}, or {} without a state. */
export const USERS = script('users', `
local gen = redis.call('GET', KEYS[1])
if not gen then return {} end
local b = ARGV[1] .. gen .. ':'
local max = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  out[#out + 1] = redis.call('LRANGE', b .. 'e:' .. ARGV[i], -max, -1)
  out[#out + 1] = redis.call('GET', b .. 'f:' .. ARGV[i])
end
return out
`);

/** Returns item, seq, payload for every changed item, in seq order of its last change. */
export const CATALOG = script('catalog', `
local gen = redis.call('GET', KEYS[1])
if not gen then return {} end
local b = ARGV[1] .. gen .. ':'
local cat = redis.call('ZRANGE', b .. 'cat', 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #cat, 2 do
  out[#out + 1] = cat[i]
  out[#out + 1] = cat[i + 1]
  out[#out + 1] = redis.call('HGET', b .. 'item', cat[i])
end
return out
`);

/**
 * ARGV[2..] = items. Returns per item its counters as one string, `type NUL count NUL type NUL count`
 * ('' for none): one reply element per item (NUL cannot occur in a type, which is validated text).
 */
export const COUNTS = script('counts', `
local gen = redis.call('GET', KEYS[1])
local out = {}
for i = 2, #ARGV do
  out[#out + 1] = gen and table.concat(redis.call('HGETALL', ARGV[1] .. gen .. ':c:' .. ARGV[i]), '\\0') or ''
end
return out
`);

/** Returns {users, events, items}. */
export const STATS = script('stats', `
local gen = redis.call('GET', KEYS[1])
if not gen then return {'0', '0', '0'} end
local b = ARGV[1] .. gen .. ':'
local n = redis.call('HMGET', b .. 'n', 'users', 'events')
return {n[1] or '0', n[2] or '0', tostring(redis.call('ZCARD', b .. 'cat'))}
`);

/** ARGV[2] = the new generation. Returns the old one (or false): its keys are the caller's to delete. */
export const CLEAR = script('clear', `
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2])
return old
`);
