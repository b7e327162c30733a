-- app_decide: the end of one approval sweep. Records the decisions found
-- (only for applications still undecided: a decision is taken once, whoever
-- sweeps), forgets the notifications that were sent, and frees the lock.
-- KEYS: pending (ZSET), notify (ZSET), lock (STRING)
-- ARGV: base ("P:{app}:"), sweep job id, count of decisions, then id,
--       decision ("approved" or "rejected") pairs, then ids notified
-- Returns the applications decided now, for the caller to notify: 7 values
-- each, as app_sweep's notify entries (id, state, bot, guild, user,
-- channel, text); they stay in notify until the caller removes them.
local base = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[3])
local decided = {}
for i = 4, 3 + 2 * n, 2 do
    local id, d = ARGV[i], ARGV[i + 1]
    local k = base .. 'app:' .. id
    if redis.call('HGET', k, 'state') == 'interviewing' then
        redis.call('HSET', k, 'state', d, 'decided_ms', now)
        redis.call('ZREM', KEYS[1], id)
        redis.call('ZADD', KEYS[2], now, id)
        local f = redis.call('HMGET', k, 'bot', 'guild', 'user', 'channel',
                             d == 'approved' and 'welcome' or 'rejection')
        decided[#decided + 1] = id
        decided[#decided + 1] = d
        for j = 1, 5 do decided[#decided + 1] = f[j] or '' end
    end
end
local done = {}
for i = 4 + 2 * n, #ARGV do done[#done + 1] = ARGV[i] end
for j = 1, #done, 1000 do
    redis.call('ZREM', KEYS[2], unpack(done, j, math.min(j + 999, #done)))
end
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return decided
