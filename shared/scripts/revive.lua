-- revive: dead jobs go back to the end of their ready list with a fresh body
-- (attempts reset by the caller). A job of a batch takes back its count as
-- failed: it will count again when it ends.
-- KEYS: dead, stats, ready:critical, ready:high, ready:normal, ready:low
-- ARGV: base, then per job 3 values: id, priority 0..3, body
-- Returns the number revived; ids not in dead are left alone.
-- include: lib_batch.lua
local base = ARGV[1]
local n, wake = 0, false
local counts, any = {}, false
for i = 2, #ARGV, 3 do
    local id, prio, body = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
    if redis.call('ZREM', KEYS[1], id) == 1 then
        local key = base .. 'job:' .. id
        -- the body it died with says whether it was counted (see lib_batch)
        local b = batch_of(redis.call('GET', key))
        if b then
            counts[b] = (counts[b] or 0) - 1
            any = true
        end
        redis.call('SET', key, body)
        if redis.call('RPUSH', KEYS[3 + prio], id) == 1 then wake = true end
        n = n + 1
    end
end
if n > 0 then redis.call('HINCRBY', KEYS[2], 'revived', n) end
if wake then redis.call('PUBLISH', base .. 'notify', 'ready') end
if any then batch_count(batch_prefix(base), counts, 'failed') end
return n
