-- ack: jobs finished; move them from active to done (or delete them at once
-- when the retention is 0), and count those of a batch. Only the holder of
-- a job's lease acks it: a job whose lease token (lease HASH) is not the
-- one given is left alone and counted as stale (its lease expired or its
-- worker was declared dead, and it was put back, or runs elsewhere now).
-- KEYS: active, done, stats, lease
-- ARGV: base, retention ms, M, then M values in runs of jobs in no batch
--       that share a token (token, k, then k ids: the jobs of one claim
--       travel with their token once), then triples (id, token, batch) of
--       jobs in a batch (so that jobs in none cost nothing more)
-- Returns {acknowledged, stale, an id of a stale one or ""}.
-- include: lib_batch.lua
local base, keep = ARGV[1], tonumber(ARGV[2])
local ids, tokens = {}, {}
local last = 3 + tonumber(ARGV[3])
local i = 4
while i <= last do
    local token, k = ARGV[i], tonumber(ARGV[i + 1])
    for j = i + 2, i + 1 + k do
        ids[#ids + 1] = ARGV[j]
        tokens[#tokens + 1] = token
    end
    i = i + 2 + k
end
local n = #ids
for j = last + 1, #ARGV, 3 do
    ids[#ids + 1] = ARGV[j]
    tokens[#tokens + 1] = ARGV[j + 1]
end
if #ids == 0 then return {0, 0, ''} end
-- the lease field exists exactly while the job is active (every script
-- that takes a job out of active deletes it), so it answers both questions
local held = redis.call('HMGET', KEYS[4], unpack(ids))
local mine, sample = {}, ''
for i, id in ipairs(ids) do
    if held[i] == tokens[i] then
        mine[#mine + 1] = id
    else
        sample = id
    end
end
local stale = #ids - #mine
if stale > 0 then redis.call('HINCRBY', KEYS[3], 'stale', stale) end
if #mine == 0 then return {0, stale, sample} end
redis.call('ZREM', KEYS[1], unpack(mine))
redis.call('HDEL', KEYS[4], unpack(mine))
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
        if held[j] == tokens[j] then
            local b = ARGV[last + 3 * (j - n)]
            counts[b] = (counts[b] or 0) + 1
            any = true
        end
    end
    if any then batch_count(batch_prefix(base), counts, 'done') end
end
return {#mine, stale, sample}
