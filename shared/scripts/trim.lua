-- trim: drop finished and dead jobs past their retention (age, then count),
-- body included.
-- KEYS: done, dead
-- ARGV: base, done max age ms, done max count, dead max age ms, dead max
--       count, limit per call
-- Returns the number of jobs removed (the caller repeats while it is limit).
local base, limit = ARGV[1], tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local removed = 0
local function drop(key, ids)
    if #ids == 0 then return end
    local keys = {}
    for i, id in ipairs(ids) do keys[i] = base .. 'job:' .. id end
    redis.call('UNLINK', unpack(keys))
    redis.call('ZREM', key, unpack(ids))
    removed = removed + #ids
end
local function trim(key, age, count)
    local budget = limit - removed
    if budget <= 0 then return end
    drop(key, redis.call('ZRANGEBYSCORE', key, '-inf', now - age, 'LIMIT', 0, budget))
    budget = limit - removed
    local excess = redis.call('ZCARD', key) - count
    if excess > 0 and budget > 0 then
        drop(key, redis.call('ZRANGE', key, 0, math.min(excess, budget) - 1))
    end
end
trim(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
trim(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
return removed
