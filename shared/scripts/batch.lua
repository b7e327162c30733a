-- batch: open a batch (made when missing) or seal it, optionally giving it
-- its callback job. A sealed batch takes no more jobs (enqueue.lua refuses
-- them) and completes once every job has ended; sealing one whose jobs have
-- all ended already completes it at once, callback included.
-- KEYS: the batch (PREFIX:batch:{ID}), the set of known queues
-- ARGV: op ("open" | "seal"), prefix, ttl ms (life of a batch not complete,
--       from its last open or seal), keep ms (life of a complete batch,
--       set when it is made), then optionally the callback: id, queue,
--       priority name, body (the envelope, checked by the caller)
-- A callback is stored only while the batch has none and is not complete:
-- the first one stays.
-- Returns {found (0: "seal" found no batch and did nothing), total, done,
-- failed, sealed, completed ms or 0, callback id or "", callback fired ms or
-- 0, 1 when the callback given was stored else 0}.
-- include: lib_batch.lua
local op, prefix, ttl, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local bk = KEYS[1]
local now = batch_now()
if redis.call('EXISTS', bk) == 0 then
    if op ~= 'open' then return {0, 0, 0, 0, 0, 0, '', 0, 0} end
    redis.call('HSET', bk, 'total', 0, 'done', 0, 'failed', 0, 'sealed', 0,
        'created_ms', string.format('%d', now), 'keep_ms', keep)
end
local stored = 0
local v = redis.call('HMGET', bk, 'completed_ms', 'cb_id')
if not v[1] then
    if ARGV[5] and not v[2] then
        redis.call('HSET', bk, 'cb_id', ARGV[5], 'cb_queue', ARGV[6], 'cb_priority', ARGV[7],
            'cb_body', ARGV[8])
        redis.call('SADD', KEYS[2], ARGV[6])
        stored = 1
    end
    local complete = false
    if op == 'seal' then
        redis.call('HSET', bk, 'sealed', 1)
        complete = batch_complete(prefix, bk, now)
    end
    if not complete then redis.call('PEXPIRE', bk, ttl) end
end
local s = redis.call('HMGET', bk, 'total', 'done', 'failed', 'sealed', 'completed_ms', 'cb_id',
    'cb_fired_ms')
return {1, tonumber(s[1]) or 0, tonumber(s[2]) or 0, tonumber(s[3]) or 0, tonumber(s[4]) or 0,
    tonumber(s[5]) or 0, s[6] or '', tonumber(s[7]) or 0, stored}
