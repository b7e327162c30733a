-- revive: dead jobs go back to the end of their ready list with a fresh body
-- (attempts reset by the caller).
-- KEYS: dead, stats, ready:critical, ready:high, ready:normal, ready:low
-- ARGV: base, then per job 3 values: id, priority 0..3, body
-- Returns the number revived; ids not in dead are left alone.
local base = ARGV[1]
local n, wake = 0, false
for i = 2, #ARGV, 3 do
    local id, prio, body = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
    if redis.call('ZREM', KEYS[1], id) == 1 then
        redis.call('SET', base .. 'job:' .. id, body)
        if redis.call('RPUSH', KEYS[3 + prio], id) == 1 then wake = true end
        n = n + 1
    end
end
if n > 0 then redis.call('HINCRBY', KEYS[2], 'revived', n) end
if wake then redis.call('PUBLISH', base .. 'notify', 'ready') end
return n
