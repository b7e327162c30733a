-- heartbeat: a worker says it is alive and what it runs.
-- KEYS: workers (ZSET), worker:ID (HASH)
-- ARGV: worker id, hash TTL ms, then field/value pairs
-- Returns the server time ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
if #ARGV > 2 then
    redis.call('HSET', KEYS[2], 'heartbeat_ms', now, unpack(ARGV, 3))
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return now
