-- lib_batch: what the scripts that end jobs share (batch counts, and the
-- lines of the completion channel). Not a script of its own: scripts.c
-- puts it in front of each script that says "-- include: lib_batch.lua"
-- (Redis has no include), so a line number in an error of such a script
-- counts this file's lines first.
--
-- A batch is the HASH PREFIX:batch:{ID}: total, done, failed, sealed,
-- created_ms, keep_ms, completed_ms once complete, and the callback job
-- (cb_id, cb_queue, cb_priority, cb_body until it fires, then cb_fired_ms).
-- A job counts once, when it reaches done (done) or dead (failed; cancelled
-- jobs too); a dead job revived takes its count back. The batch is complete
-- when sealed and done + failed = total: the same script enqueues the
-- callback and drops its body from the hash, so it fires once.
--
-- A batch's keys are not its jobs' queue's, nor is the callback's queue:
-- these are cross-slot accesses, fine on one Redis, not in a Redis Cluster.

-- The key prefix of a queue's base "PREFIX:{Q}:" (a prefix has no ':').
local function batch_prefix(base)
    return string.match(base, '^(.-):{')
end

local function batch_key(prefix, batch)
    return prefix .. ':batch:{' .. batch .. '}'
end

local function batch_now()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The batch an envelope's text names, or nil. For the rare paths that have
-- the body at hand (reclaim, cancel, revive); ack and fail are told.
local function batch_of(body)
    if not body then return nil end
    local ok, doc = pcall(cjson.decode, body)
    if ok and type(doc) == 'table' and type(doc.batch) == 'string' and doc.batch ~= '' then
        return doc.batch
    end
    return nil
end

-- Completes batch BK if it is sealed and every job is counted: enqueues the
-- callback as enqueue.lua would (body, ready list, wake-up, stats, queue
-- registry), and keeps the record keep_ms more. Returns true when it did.
local function batch_complete(prefix, bk, now)
    local v = redis.call('HMGET', bk, 'total', 'done', 'failed', 'sealed', 'completed_ms')
    if v[4] ~= '1' or v[5] then return false end
    if (tonumber(v[2]) or 0) + (tonumber(v[3]) or 0) < (tonumber(v[1]) or 0) then return false end
    local stamp = string.format('%d', now)
    local cb = redis.call('HMGET', bk, 'cb_id', 'cb_queue', 'cb_priority', 'cb_body', 'keep_ms')
    if cb[4] then
        local cbase = prefix .. ':{' .. cb[2] .. '}:'
        redis.call('SET', cbase .. 'job:' .. cb[1], cb[4])
        if redis.call('RPUSH', cbase .. 'ready:' .. cb[3], cb[1]) == 1 then
            redis.call('PUBLISH', cbase .. 'notify', 'ready')
        end
        redis.call('HINCRBY', cbase .. 'stats', 'enqueued', 1)
        redis.call('SADD', prefix .. ':queues', cb[2])
        redis.call('HDEL', bk, 'cb_body')
        redis.call('HSET', bk, 'cb_fired_ms', stamp)
    end
    redis.call('HSET', bk, 'completed_ms', stamp)
    redis.call('PEXPIRE', bk, tonumber(cb[5]) or 86400000)
    return true
end

-- Adds COUNTS ({batch = n}) to FIELD ("done" or "failed"; n < 0 takes
-- counts back) of each batch that still exists (one that expired is not
-- made again), and completes those that now can be.
local function batch_count(prefix, counts, field)
    local now
    for b, n in pairs(counts) do
        local bk = batch_key(prefix, b)
        if redis.call('EXISTS', bk) == 1 then
            redis.call('HINCRBY', bk, field, n)
            if n > 0 then
                now = now or batch_now()
                batch_complete(prefix, bk, now)
            end
        end
    end
end

-- The completion channel, PREFIX:{Q}:finished: one PUBLISH per script call
-- that ended jobs, NDJSON, one line per job, each ending in "\n". The line of
-- job ID that went to dead with envelope BODY ("" or false: none):
--   {"id":"ID","state":"dead","last_error":"..."}
-- (cancelled jobs too: they are in dead, with the reason of the cancel).
local function dead_line(id, body)
    local err = 'unknown'
    if body and body ~= '' then
        local ok, doc = pcall(cjson.decode, body)
        if ok and type(doc) == 'table' and type(doc.last_error) == 'string' then
            err = doc.last_error
        end
    end
    return '{"id":' .. cjson.encode(id) .. ',"state":"dead","last_error":' .. cjson.encode(err) ..
        '}\n'
end

-- end of lib_batch
