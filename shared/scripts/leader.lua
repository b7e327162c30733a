-- leader: take or keep the scheduler lock.
-- KEYS: lock
-- ARGV: my id, ttl ms, "release" to give it up
-- Returns 1 while I hold it, 0 otherwise.
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
    if cur == ARGV[1] then redis.call('DEL', KEYS[1]) end
    return 0
end
if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if not cur then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
