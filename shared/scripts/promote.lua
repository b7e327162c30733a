-- promote: move delayed jobs that are due into their ready lists.
-- KEYS: delayed, ready:critical, ready:high, ready:normal, ready:low
-- ARGV: base, limit
-- Returns {promoted, next due ms or -1, server time ms}.
local base, limit = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
if #ids > 0 then
    redis.call('ZREM', KEYS[1], unpack(ids))
    local keys = {}
    for i, id in ipairs(ids) do keys[i] = base .. 'job:' .. id end
    local bodies = redis.call('MGET', unpack(keys))
    local ready = {{}, {}, {}, {}}
    local prios = {critical = 1, high = 2, normal = 3, low = 4}
    for i, id in ipairs(ids) do
        local p = 3
        if bodies[i] then
            local ok, doc = pcall(cjson.decode, bodies[i])
            if ok and type(doc) == 'table' and prios[doc.priority] then p = prios[doc.priority] end
        end
        local r = ready[p]
        r[#r + 1] = id
    end
    local wake = false
    for p = 1, 4 do
        if #ready[p] > 0 then
            if redis.call('RPUSH', KEYS[p + 1], unpack(ready[p])) == #ready[p] then wake = true end
        end
    end
    if wake then redis.call('PUBLISH', base .. 'notify', 'ready') end
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local nxt = -1
if head[2] then nxt = tonumber(head[2]) end
return {#ids, nxt, now}
