-- expired: list active jobs whose lease deadline has passed, with their
-- lease tokens and bodies.
-- KEYS: active, lease
-- ARGV: base, limit
-- Returns {server time ms, id1, deadline1, token1, body1, ...}; token ""
-- when the job has none (claimed by an older worker), body false if gone.
local base, limit = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'WITHSCORES', 'LIMIT', 0, limit)
local out = {now}
if #found == 0 then return out end
local keys, ids = {}, {}
for i = 1, #found, 2 do
    keys[#keys + 1] = base .. 'job:' .. found[i]
    ids[#ids + 1] = found[i]
end
local bodies = redis.call('MGET', unpack(keys))
local tokens = redis.call('HMGET', KEYS[2], unpack(ids))
for i = 1, #found, 2 do
    local j = (i + 1) / 2
    out[#out + 1] = found[i]
    out[#out + 1] = found[i + 1]
    out[#out + 1] = tokens[j] or ''
    out[#out + 1] = bodies[j]
end
return out
