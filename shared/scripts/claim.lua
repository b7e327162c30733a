-- claim: lease up to N ready jobs, highest priority first, FIFO within one.
-- Every job of one call gets the same fencing token, "WORKER/SEQ" (SEQ
-- counts the queue's claim calls, in stats as "claims"), kept in the lease
-- HASH (id -> token) while the job is active: renew, ack and fail act only
-- for the token's holder, and the scheduler finds a dead worker's jobs by it.
-- KEYS: ready:critical, ready:high, ready:normal, ready:low, active, paused,
--       dead, stats, lease, events
-- ARGV: base, N, lease ms, worker id, events CAP
-- Returns {server time ms, token, id1, body1, id2, body2, ...} ({server
-- time ms} when the ready lists were empty, or while the queue is paused).
-- An id whose body is gone goes to dead with the reason, published on
-- PREFIX:{Q}:finished as {"id":"ID","state":"dead","last_error":"..."},
-- and appended to the events stream (events.h; none when CAP is 0).
local base, n, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[6]) == 1 then return {now} end
local ids = {}
for p = 1, 4 do
    local want = n - #ids
    if want <= 0 then break end
    local got = redis.call('LPOP', KEYS[p], want)
    if got then
        for _, id in ipairs(got) do ids[#ids + 1] = id end
    end
end
if #ids == 0 then return {now} end
local keys = {}
for i, id in ipairs(ids) do keys[i] = base .. 'job:' .. id end
local bodies = redis.call('MGET', unpack(keys))
local za, hs, k, lost = {}, {}, 0, 0
local lines, evs = {}, {}
-- one string for every ZADD score: Redis would format the number per job
local deadline = string.format('%d', now + lease)
local token = ARGV[4] .. '/' .. redis.call('HINCRBY', KEYS[8], 'claims', 1)
local out = {now, token}
-- (counters, not #t: the length operator searches; this is the hot path)
for i, id in ipairs(ids) do
    local body = bodies[i]
    if body then
        za[k + 1], za[k + 2] = deadline, id
        hs[k + 1], hs[k + 2] = id, token
        out[k + 3], out[k + 4] = id, body
        k = k + 2
    else
        redis.call('ZADD', KEYS[7], now, id)
        local why = 'job body missing when claimed (was its key deleted by hand?)'
        redis.call('SET', keys[i], cjson.encode({id = id, queue = string.match(base, '{(.*)}'),
            last_error = why}))
        lost = lost + 1
        lines[lost] = '{"id":' .. cjson.encode(id) .. ',"state":"dead","last_error":' ..
            cjson.encode(why) .. '}\n'
        evs[lost] = 'dead\t' .. id .. '\t\t0\t\t' .. now .. '\t\t' .. why .. '\n'
    end
end
if k > 0 then
    redis.call('ZADD', KEYS[5], unpack(za))
    redis.call('HSET', KEYS[9], unpack(hs))
end
if lost > 0 then
    redis.call('HINCRBY', KEYS[8], 'dead', lost)
    redis.call('PUBLISH', base .. 'finished', table.concat(lines))
    if tonumber(ARGV[5]) > 0 then
        redis.call('XADD', KEYS[10], 'MAXLEN', '~', ARGV[5], '*', 'q', string.match(base, '{(.*)}'),
            'e', table.concat(evs))
    end
end
return out
