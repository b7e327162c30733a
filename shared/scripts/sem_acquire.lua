-- sem_acquire: take a place under a fleet-wide cap on concurrent work (PDF
-- renders), if one is free. Holders are kept with the time their place runs
-- out, so the place of a worker that died frees itself; the holder gives it
-- back with ZREM when the work ends.
-- KEYS: the semaphore (ZSET holder -> expiry ms, Redis time)
-- ARGV: holder, cap, ttl ms
-- Returns {1, holders} when HOLDER holds a place (taken now or held
-- already: a resent call is harmless), {0, holders} when all are taken.
local holder, cap, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local n = redis.call('ZCARD', KEYS[1])
local held = redis.call('ZSCORE', KEYS[1], holder)
if not held and n >= cap then return {0, n} end
redis.call('ZADD', KEYS[1], string.format('%d', now + ttl), holder)
-- the key itself goes when the last place runs out
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
if not held then n = n + 1 end
return {1, n}
