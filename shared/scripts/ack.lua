-- ack: jobs finished; move them from active to done (or delete them at once
-- when the retention is 0), store the results of those that have one, count
-- those of a batch, and tell subscribers. Only the holder of a job's lease
-- acks it: a job whose lease token (lease HASH) is not the one given is left
-- alone and counted as stale (its lease expired or its worker was declared
-- dead, and it was put back, or runs elsewhere now).
-- KEYS: active, done, stats, lease, events
-- ARGV: base, retention ms, M, B, LINES, EVENTS, CAP, then M values in runs of jobs with no
--       batch and no result that share a token (token, k, then k ids: the
--       jobs of one claim travel with their token once), then B values in
--       triples (id, token, batch) of jobs in a batch with no result (so
--       that jobs in none cost nothing more), then quintuples (id, token,
--       batch or "", body, result) of jobs with a result: BODY is the
--       envelope with its "result" field, stored in place of the job's
--       (kept with it in done; not stored when the retention is 0), RESULT
--       the result's JSON text alone. Jobs with no result pay for nothing.
--       LINES: the message below for every job of the call, made by the
--       worker (cheaper than in Lua), or "": it is published as it is when
--       no job was stale, else the script makes the lines itself.
--       EVENTS: events.h's line of every job of the call, in any order,
--       made by the worker; appended to the events stream (capped at CAP
--       entries; CAP 0: none) as one entry, only the lines of the jobs that
--       moved when some were stale.
-- Publishes once per call on PREFIX:{Q}:finished, when a job moved and the
-- channel has a subscriber (or any pattern subscriber: PUBSUB NUMSUB /
-- NUMPAT on this server, so subscribe on the primary): NDJSON, one line
-- per job that reached done, each ending in "\n":
--   {"id":"ID","state":"done"}                      (no result)
--   {"id":"ID","state":"done","result":RESULT}      (a result)
-- (fail.lua publishes the dead ones: {"id":..,"state":"dead","last_error":..}).
-- Returns {acknowledged, stale, an id of a stale one or "", 1 when the
-- channel had a subscriber else 0 (the worker makes LINES only then)}.
-- include: lib_batch.lua
-- include: lib_many.lua
local base, keep = ARGV[1], tonumber(ARGV[2])
-- (counters, not #t: the length operator searches; this is the hot path)
local ids, n = {}, 0
local last = 7 + tonumber(ARGV[3])
local tri = last + tonumber(ARGV[4])
local i = 8
while i <= last do
    for j = i + 2, i + 1 + tonumber(ARGV[i + 1]) do
        n = n + 1
        ids[n] = ARGV[j]
    end
    i = i + 2 + tonumber(ARGV[i + 1])
end
local plain, total = n, n
for j = last + 1, tri, 3 do
    total = total + 1
    ids[total] = ARGV[j]
end
local batched = total
for j = tri + 1, #ARGV, 5 do
    total = total + 1
    ids[total] = ARGV[j]
end
if total == 0 then return {0, 0, '', 0} end
-- the lease field exists exactly while the job is active (every script
-- that takes a job out of active deletes it), so it answers both questions
local held = call_many('HMGET', KEYS[4], ids, total)
local mine, m, sample = {}, 0, ''
i, n = 8, 0
while i <= last do
    local token = ARGV[i]
    for _ = 1, tonumber(ARGV[i + 1]) do
        n = n + 1
        if held[n] == token then
            m = m + 1
            mine[m] = ids[n]
        else
            sample = ids[n]
        end
    end
    i = i + 2 + tonumber(ARGV[i + 1])
end
for j = plain + 1, batched do
    if held[j] == ARGV[last + 3 * (j - plain) - 1] then
        m = m + 1
        mine[m] = ids[j]
    else
        sample = ids[j]
    end
end
local bare = m -- mine[1..bare]: no result
local with = {} -- ARGV index of each moved job with a result
for j = batched + 1, total do
    local k = tri + 5 * (j - batched) - 4
    if held[j] == ARGV[k + 1] then
        m = m + 1
        mine[m] = ids[j]
        with[m - bare] = k
    else
        sample = ids[j]
    end
end
local stale = total - m
if stale > 0 then redis.call('HINCRBY', KEYS[3], 'stale', stale) end
if m == 0 then return {0, stale, sample, 0} end
call_many('ZREM', KEYS[1], mine, m)
call_many('HDEL', KEYS[4], mine, m)
if keep > 0 then
    local t = redis.call('TIME')
    local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
    local za = {}
    for j = 1, m do
        za[2 * j - 1] = now
        za[2 * j] = mine[j]
    end
    call_many('ZADD', KEYS[2], za, 2 * m)
    for j = bare + 1, m do redis.call('SET', base .. 'job:' .. mine[j], ARGV[with[j - bare] + 3]) end
else
    local keys = {}
    for j = 1, m do keys[j] = base .. 'job:' .. mine[j] end
    call_many('UNLINK', false, keys, m)
end
redis.call('HINCRBY', KEYS[3], 'processed', m)
local cap = tonumber(ARGV[7])
if cap > 0 and ARGV[6] ~= '' then
    local ev = ARGV[6]
    if stale > 0 then -- only the lines of the jobs that moved
        local moved, keep, k = {}, {}, 0
        for j = 1, m do moved[mine[j]] = true end
        for line in string.gmatch(ev, '[^\n]*\n') do
            if moved[string.match(line, '^[^\t]*\t([^\t]*)')] then
                k = k + 1
                keep[k] = line
            end
        end
        ev = table.concat(keep)
    end
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', cap, '*', 'q', string.match(base, '{(.*)}'),
        'e', ev)
end
-- tell subscribers, when there are any: asking costs far less than the
-- message (its ~45 bytes a job are Lua strings, and the Lua GC's work)
local ch = base .. 'finished'
local heard = redis.call('PUBSUB', 'NUMSUB', ch)[2] > 0 or redis.call('PUBSUB', 'NUMPAT') > 0
if heard and stale == 0 and ARGV[5] ~= '' then
    redis.call('PUBLISH', ch, ARGV[5])
elseif heard then
    -- pieces joined once (table.concat copies a separator byte by byte)
    local parts, k = {}, 0
    for j = 1, bare do
        parts[k + 1], parts[k + 2], parts[k + 3] = '{"id":"', mine[j], '","state":"done"}\n'
        k = k + 3
    end
    for j = bare + 1, m do
        parts[k + 1], parts[k + 2] = '{"id":"', mine[j]
        parts[k + 3], parts[k + 4] = '","state":"done","result":', ARGV[with[j - bare] + 4]
        parts[k + 5] = '}\n'
        k = k + 5
    end
    redis.call('PUBLISH', ch, table.concat(parts))
end
if total > plain then
    -- only jobs really moved count: a repeated ack finds them gone
    local counts, any = {}, false
    for j = plain + 1, total do
        local b, ok
        if j <= batched then
            local k = last + 3 * (j - plain)
            ok, b = held[j] == ARGV[k - 1], ARGV[k]
        else
            local k = tri + 5 * (j - batched) - 4
            ok, b = held[j] == ARGV[k + 1], ARGV[k + 2]
        end
        if ok and b ~= '' then
            counts[b] = (counts[b] or 0) + 1
            any = true
        end
    end
    if any then batch_count(batch_prefix(base), counts, 'done') end
end
return {m, stale, sample, heard and 1 or 0}
