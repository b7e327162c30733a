-- ack: jobs finished; move them from active to done (or delete them at once
-- when the retention is 0), and count those of a batch.
-- KEYS: active, done, stats
-- ARGV: base, retention ms, N, then N ids of jobs in no batch, then pairs
--       (id, batch) of jobs in a batch (so that jobs in none cost nothing
--       more)
-- Returns the number acknowledged; an id no longer in active (its lease was
-- reclaimed meanwhile) is not counted and stays where it is.
-- include: lib_batch.lua
local base, keep, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = {}
for i = 4, 3 + n do ids[#ids + 1] = ARGV[i] end
for i = 4 + n, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return 0 end
local scores = redis.call('ZMSCORE', KEYS[1], unpack(ids))
local mine = {}
for i, id in ipairs(ids) do
    if scores[i] then mine[#mine + 1] = id end
end
if #mine == 0 then return 0 end
redis.call('ZREM', KEYS[1], unpack(mine))
if keep > 0 then
    local t = redis.call('TIME')
    local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
    local za = {}
    for _, id in ipairs(mine) do
        za[#za + 1] = now
        za[#za + 1] = id
    end
    redis.call('ZADD', KEYS[2], unpack(za))
else
    local keys = {}
    for i, id in ipairs(mine) do keys[i] = base .. 'job:' .. id end
    redis.call('UNLINK', unpack(keys))
end
redis.call('HINCRBY', KEYS[3], 'processed', #mine)
if #ids > n then
    -- only jobs really moved count: a repeated ack finds them gone
    local counts, any = {}, false
    for j = n + 1, #ids do
        if scores[j] then
            local b = ARGV[3 + n + 2 * (j - n)]
            counts[b] = (counts[b] or 0) + 1
            any = true
        end
    end
    if any then batch_count(batch_prefix(base), counts, 'done') end
end
return #mine
