-- fail: runs that failed; each job is rewritten (attempts, last_error) and
-- goes to delayed for a retry, to ready at the front (handed back without
-- counting an attempt), to delayed without counting one (deferred: a rate
-- limit asked for a long wait), or to dead. A job of a batch that goes to
-- dead counts as failed in its batch (a retry is not an end). Only the
-- holder of a job's lease moves it: a job whose lease token (lease HASH) is
-- not the one given is left alone and counted as stale.
-- KEYS: active, delayed, dead, stats, ready:critical, ready:high,
--       ready:normal, ready:low, lease, events
-- ARGV: base, scheduler channel, events CAP, then per job 8 values:
--       id, token, action ("retry" | "dead" | "back" | "defer"), delay ms,
--       priority 0..3, body ("" keeps the stored one), batch ("" for none),
--       the job's events.h line ("" for none: a hand-back is no end)
-- The lines of the jobs moved go to the events stream as one entry
-- (capped at CAP entries; CAP 0: none).
-- Publishes once per call on PREFIX:{Q}:finished when jobs went to dead:
-- NDJSON, one line per such job, {"id":"ID","state":"dead","last_error":"..."}
-- (lib_batch.lua's dead_line; ack.lua publishes the done ones).
-- Returns {moved, stale, an id of a stale one or ""}.
-- include: lib_batch.lua
-- include: lib_many.lua
local base, schedch, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local moved, failed, retried, dead, deferred, earliest = 0, 0, 0, 0, 0, nil
local wake = false
local counts, any = {}, false
local lines, nl = {}, 0
local ids = {}
local evs, ne = {}, 0
for i = 4, #ARGV, 8 do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return {0, 0, ''} end
local held = call_many('HMGET', KEYS[9], ids, #ids)
local stale, sample = 0, ''
for j, id in ipairs(ids) do
    local i = 4 + 8 * (j - 1)
    local action, delay = ARGV[i + 2], tonumber(ARGV[i + 3])
    local prio, body = tonumber(ARGV[i + 4]), ARGV[i + 5]
    if held[j] ~= ARGV[i + 1] then
        stale, sample = stale + 1, id
    elseif redis.call('ZREM', KEYS[1], id) == 1 then
        redis.call('HDEL', KEYS[9], id)
        moved = moved + 1
        if ARGV[i + 7] ~= '' then
            ne = ne + 1
            evs[ne] = ARGV[i + 7]
        end
        if body ~= '' then redis.call('SET', base .. 'job:' .. id, body) end
        if action == 'retry' or action == 'defer' then
            local due = now + delay
            redis.call('ZADD', KEYS[2], due, id)
            if not earliest or due < earliest then earliest = due end
            if action == 'retry' then
                failed, retried = failed + 1, retried + 1
            else
                deferred = deferred + 1
            end
        elseif action == 'back' then
            if redis.call('LPUSH', KEYS[5 + prio], id) == 1 then wake = true end
        else
            redis.call('ZADD', KEYS[3], now, id)
            failed, dead = failed + 1, dead + 1
            nl = nl + 1
            lines[nl] = dead_line(id, body ~= '' and body or redis.call('GET', base .. 'job:' .. id))
            local b = ARGV[i + 6]
            if b ~= '' then
                counts[b] = (counts[b] or 0) + 1
                any = true
            end
        end
    end
end
if ne > 0 and cap > 0 then
    redis.call('XADD', KEYS[10], 'MAXLEN', '~', cap, '*', 'q', string.match(base, '{(.*)}'),
        'e', table.concat(evs))
end
if failed > 0 then redis.call('HINCRBY', KEYS[4], 'failed', failed) end
if retried > 0 then redis.call('HINCRBY', KEYS[4], 'retried', retried) end
if dead > 0 then redis.call('HINCRBY', KEYS[4], 'dead', dead) end
if deferred > 0 then redis.call('HINCRBY', KEYS[4], 'deferred', deferred) end
if stale > 0 then redis.call('HINCRBY', KEYS[4], 'stale', stale) end
if wake then redis.call('PUBLISH', base .. 'notify', 'ready') end
if nl > 0 then redis.call('PUBLISH', base .. 'finished', table.concat(lines)) end
if earliest then
    local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    if tonumber(head[2]) >= earliest then redis.call('PUBLISH', schedch, earliest) end
end
if any then batch_count(batch_prefix(base), counts, 'failed') end
return {moved, stale, sample}
