-- reclaim: take back jobs whose lease expired, or whose worker stopped
-- heartbeating, if nothing touched them since they were listed (still
-- active with the same deadline and lease token): rewrite the body (attempt
-- counted) and put the job in front of its ready list, or in dead (where a
-- job of a batch counts as failed in its batch). The lease token goes with
-- it, so a late renew, ack or fail of the old holder is refused as stale.
-- KEYS: active, dead, stats, ready:critical, ready:high, ready:normal,
--       ready:low, lease, events
-- ARGV: base, events CAP, then per job 8 values: id, listed deadline,
--       listed token ("" for none), why ("lease": only once the deadline
--       has passed | "worker": its holder is dead), action ("ready" |
--       "dead"), priority 0..3, body, the job's events.h line (retried or
--       dead)
-- The lines of the jobs taken back go to the events stream as one entry
-- (capped at CAP entries; CAP 0: none).
-- Publishes once per call on PREFIX:{Q}:finished when jobs went to dead
-- (lib_batch.lua's dead_line: {"id":"ID","state":"dead","last_error":"..."}).
-- Returns the number reclaimed.
-- include: lib_batch.lua
local base, cap = ARGV[1], tonumber(ARGV[2])
local evs = {}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n, dead, wake = 0, 0, false
local counts, any = {}, false
local lines = {}
for i = 3, #ARGV, 8 do
    local id, seen, token, why = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local action, prio, body = ARGV[i + 4], tonumber(ARGV[i + 5]), ARGV[i + 6]
    local score = redis.call('ZSCORE', KEYS[1], id)
    if score and tonumber(score) == tonumber(seen) and
        (why == 'worker' or tonumber(score) < now) and
        (redis.call('HGET', KEYS[8], id) or '') == token then
        redis.call('ZREM', KEYS[1], id)
        redis.call('HDEL', KEYS[8], id)
        redis.call('SET', base .. 'job:' .. id, body)
        if action == 'ready' then
            if redis.call('LPUSH', KEYS[4 + prio], id) == 1 then wake = true end
        else
            redis.call('ZADD', KEYS[2], now, id)
            dead = dead + 1
            lines[dead] = dead_line(id, body)
            local b = batch_of(body)
            if b then
                counts[b] = (counts[b] or 0) + 1
                any = true
            end
        end
        n = n + 1
        evs[n] = ARGV[i + 7]
    end
end
if n > 0 and cap > 0 then
    redis.call('XADD', KEYS[9], 'MAXLEN', '~', cap, '*', 'q', string.match(base, '{(.*)}'),
        'e', table.concat(evs))
end
if n > 0 then redis.call('HINCRBY', KEYS[3], 'reclaimed', n) end
if n > 0 then redis.call('HINCRBY', KEYS[3], 'failed', n) end
if dead > 0 then redis.call('HINCRBY', KEYS[3], 'dead', dead) end
if wake then redis.call('PUBLISH', base .. 'notify', 'ready') end
if dead > 0 then redis.call('PUBLISH', base .. 'finished', table.concat(lines)) end
if any then batch_count(batch_prefix(base), counts, 'failed') end
return n
