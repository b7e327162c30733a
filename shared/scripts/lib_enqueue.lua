-- lib_enqueue: the enqueue itself, one function shared by enqueue.lua (the
-- script the CLI runs with EVALSHA) and the function library's
-- sluice_enqueue (shared/functions/sluice.lua, FCALL): both run this text,
-- so a job enqueued either way is stored the same way. Not a script of its
-- own: it needs lib_batch.lua in front of it (scripts.c and
-- tools/funclib.sh put the included files first, in the order named).
--
-- enqueue_jobs(keys, argv): store a batch of jobs and put each in ready or
-- delayed.
-- keys: ready:critical, ready:high, ready:normal, ready:low, delayed, stats
-- argv: base ("P:{Q}:"), idempotency TTL ms, scheduler channel, then per job
--       6 values: id, priority 0..3 (followed by "!" when the client chose the
--       id: then an existing job with that id refuses it; then by "@" and the
--       batch when the job is in one: no argument more for jobs in none),
--       body, delay_ms, run_at_ms, idempotency key. A job of a batch needs
--       the batch open (made by batch.lua) and not sealed; it adds one to the
--       batch's total.
-- Returns one entry per job: its id; for an idempotency key seen before, the
-- id of the job that used it; "!" .. reason when the job was refused (its
-- idempotency key is then not kept).
-- NOW, when given, is Redis's TIME in ms as the caller read it in this call.
-- The tables a call of one job does not need are made on first use: a
-- call costs Redis ~1 us a table (sluice_enqueue sends one job a call).
local function enqueue_jobs(keys, argv, now)
    local base, ttl, schedch = argv[1], tonumber(argv[2]), argv[3]
    if not now then
        local t = redis.call('TIME')
        now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    end
    local out, ready, n, earliest = {}, {}, 0, nil
    local mset, seen, prefix, refusal, totals = {}, nil, nil, nil, nil
    -- why jobs of BATCH are refused, or false: looked up once per call
    local function batch_refusal(batch)
        if not refusal then refusal, prefix = {}, batch_prefix(base) end
        local why = refusal[batch]
        if why == nil then
            local s = redis.call('HMGET', batch_key(prefix, batch), 'created_ms', 'sealed')
            if not s[1] then
                why = '!batch: no batch ' .. batch .. ' (open it first, as sluice-producer does; ' ..
                    'or it expired)'
            elseif s[2] == '1' then
                why = '!batch: batch ' .. batch .. ' is sealed: no more jobs can join it'
            else
                why = false
            end
            refusal[batch] = why
        end
        return why
    end
    for i = 4, #argv, 6 do
        local id, p, body = argv[i], argv[i + 1], argv[i + 2]
        local prio, chosen, batch = string.byte(p, 1) - 48, false, ''
        if #p > 1 then
            chosen = string.byte(p, 2) == 33
            batch = string.match(p, '@(.+)$') or ''
        end
        local due = now + tonumber(argv[i + 3])
        local at, idem = tonumber(argv[i + 4]), argv[i + 5]
        local take, k = true, nil
        if idem ~= '' then
            k = base .. 'idem:' .. idem
            if not redis.call('SET', k, id, 'NX', 'PX', ttl) then
                out[#out + 1] = redis.call('GET', k)
                take = false
            end
        end
        if take then
            local why = false
            if chosen and ((seen and seen[id]) or redis.call('EXISTS', base .. 'job:' .. id) == 1) then
                why = '!id: a job with id ' .. id .. ' exists already'
            elseif batch ~= '' then
                why = batch_refusal(batch)
            end
            if why then
                out[#out + 1] = why
                if k then redis.call('DEL', k) end
            else
                -- generated ids are unique by construction: one MSET for all
                if chosen then
                    seen = seen or {}
                    seen[id] = true
                end
                mset[#mset + 1] = base .. 'job:' .. id
                mset[#mset + 1] = body
                if at > due then due = at end
                if due > now then
                    redis.call('ZADD', keys[5], due, id)
                    if not earliest or due < earliest then earliest = due end
                else
                    local r = ready[prio + 1]
                    if not r then
                        r = {}
                        ready[prio + 1] = r
                    end
                    r[#r + 1] = id
                end
                if batch ~= '' then
                    totals = totals or {}
                    totals[batch] = (totals[batch] or 0) + 1
                end
                out[#out + 1] = id
                n = n + 1
            end
        end
    end
    for j = 1, #mset, 1000 do
        redis.call('MSET', unpack(mset, j, math.min(j + 999, #mset)))
    end
    for b, c in pairs(totals or {}) do redis.call('HINCRBY', batch_key(prefix, b), 'total', c) end
    local wake = false
    for p = 1, 4 do
        local ids = ready[p] or {}
        for j = 1, #ids, 1000 do
            local last = math.min(j + 999, #ids)
            local len = redis.call('RPUSH', keys[p], unpack(ids, j, last))
            -- a list that was empty before: idle workers are waiting for it
            if j == 1 and len == last then wake = true end
        end
    end
    if wake then redis.call('PUBLISH', base .. 'notify', 'ready') end
    if earliest then
        local head = redis.call('ZRANGE', keys[5], 0, 0, 'WITHSCORES')
        if tonumber(head[2]) >= earliest then redis.call('PUBLISH', schedch, earliest) end
    end
    if n > 0 then redis.call('HINCRBY', keys[6], 'enqueued', n) end
    return out
end

-- end of lib_enqueue
