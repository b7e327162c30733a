-- app_sweep: the start of one approval sweep. Takes the sweep lock (one
-- sweep at a time across the fleet), decides the applications past their
-- deadline (expired), and returns what the sweep has to do.
-- KEYS: pending (ZSET), notify (ZSET), lock (STRING)
-- ARGV: base ("P:{app}:"), sweep job id, lock ms, most applications to check
-- Returns {"busy"} when another sweep holds the lock, else
-- {"ok", notify..., "|", pending...} where a notify entry is 7 values (id,
-- state, bot, guild, user, channel, text to send: "" for none) and a pending
-- entry 6 (id, bot, guild, user, role_id, status_url).
local base = ARGV[1]
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[2] then return {'busy'} end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- past the deadline and still undecided: expired
local late = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(late) do
    local k = base .. 'app:' .. id
    if redis.call('HGET', k, 'state') == 'interviewing' then
        redis.call('HSET', k, 'state', 'expired', 'decided_ms', now)
        redis.call('ZADD', KEYS[2], now, id)
    end
    redis.call('ZREM', KEYS[1], id)
end
local out = {'ok'}
local texts = {approved = 'welcome', rejected = 'rejection', expired = 'expiry'}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, 999)) do
    local f = redis.call('HMGET', base .. 'app:' .. id, 'state', 'bot', 'guild', 'user',
                         'channel', 'welcome', 'rejection', 'expiry')
    local state = f[1] or 'gone'
    local text = ''
    if texts[state] then
        local which = {welcome = f[6], rejection = f[7], expiry = f[8]}
        text = which[texts[state]] or ''
    end
    out[#out + 1] = id
    out[#out + 1] = state
    for i = 2, 5 do out[#out + 1] = f[i] or '' end
    out[#out + 1] = text
end
out[#out + 1] = '|'
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[4]) - 1)) do
    local f = redis.call('HMGET', base .. 'app:' .. id, 'bot', 'guild', 'user', 'role_id',
                         'status_url')
    out[#out + 1] = id
    for i = 1, 5 do out[#out + 1] = f[i] or '' end
end
return out
