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
-- (counters, not #t: the length operator searches; this is the hot path)
local ids, n = {}, 0
local last = 3 + tonumber(ARGV[3])
local i = 4
while i <= last do
    for j = i + 2, i + 1 + tonumber(ARGV[i + 1]) do
        n = n + 1
        ids[n] = ARGV[j]
    end
    i = i + 2 + tonumber(ARGV[i + 1])
end
local plain, total = n, n
for j = last + 1, #ARGV, 3 do
    total = total + 1
    ids[total] = ARGV[j]
end
if total == 0 then return {0, 0, ''} end
-- the lease field exists exactly while the job is active (every script
-- that takes a job out of active deletes it), so it answers both questions
local held = redis.call('HMGET', KEYS[4], unpack(ids))
local mine, m, sample = {}, 0, ''
i, n = 4, 0
while i <= last do
    local token = ARGV[i]
    for _ = 1, tonumber(ARGV[i + 1]) do
        n = n + 1
        if held[n] == token then
            m = m + 1
            mine[m] = ids[n]
        else
            sample = ids[n]
        end
    end
    i = i + 2 + tonumber(ARGV[i + 1])
end
for j = plain + 1, total do
    if held[j] == ARGV[last + 3 * (j - plain) - 1] then
        m = m + 1
        mine[m] = ids[j]
    else
        sample = ids[j]
    end
end
local stale = total - m
if stale > 0 then redis.call('HINCRBY', KEYS[3], 'stale', stale) end
if m == 0 then return {0, stale, sample} end
redis.call('ZREM', KEYS[1], unpack(mine))
redis.call('HDEL', KEYS[4], unpack(mine))
if keep > 0 then
    local t = redis.call('TIME')
    local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
    local za = {}
    for j = 1, m do
        za[2 * j - 1] = now
        za[2 * j] = mine[j]
    end
    redis.call('ZADD', KEYS[2], unpack(za))
else
    local keys = {}
    for j = 1, m do keys[j] = base .. 'job:' .. mine[j] end
    redis.call('UNLINK', unpack(keys))
end
redis.call('HINCRBY', KEYS[3], 'processed', m)
if total > plain then
    -- only jobs really moved count: a repeated ack finds them gone
    local counts, any = {}, false
    for j = plain + 1, total do
        local k = last + 3 * (j - plain)
        if held[j] == ARGV[k - 1] then
            local b = ARGV[k]
            counts[b] = (counts[b] or 0) + 1
            any = true
        end
    end
    if any then batch_count(batch_prefix(base), counts, 'done') end
end
return {m, stale, sample}
