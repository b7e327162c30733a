-- cancel: a job still waiting (ready or delayed) goes to dead, rewritten with
-- the reason; a running or finished job is left alone. A cancelled job of a
-- batch counts as failed in its batch.
-- KEYS: delayed, dead, stats, ready:critical, ready:high, ready:normal, ready:low,
--       events
-- ARGV: base, id, body, events CAP (0: no event)
-- Appends the job's "cancelled" line (events.h) to the events stream.
-- Publishes the job's line on PREFIX:{Q}:finished (lib_batch.lua's
-- dead_line: {"id":"ID","state":"dead","last_error":"cancelled by ..."}).
-- Returns 1 when cancelled, 0 when the job was not waiting.
-- include: lib_batch.lua
local base, id, body = ARGV[1], ARGV[2], ARGV[3]
local found = redis.call('ZREM', KEYS[1], id) == 1
for p = 4, 7 do
    if found then break end
    found = redis.call('LREM', KEYS[p], 1, id) == 1
end
if not found then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', base .. 'job:' .. id, body)
redis.call('ZADD', KEYS[2], now, id)
redis.call('HINCRBY', KEYS[3], 'cancelled', 1)
redis.call('PUBLISH', base .. 'finished', dead_line(id, body))
local cap = tonumber(ARGV[4])
if cap > 0 then
    local ok, doc = pcall(cjson.decode, body)
    if not ok or type(doc) ~= 'table' then doc = {} end
    local function field(v, num)
        if num then return type(v) == 'number' and string.format('%d', v) or '' end
        return (type(v) == 'string' and string.gsub(v, '[\t\r\n]', ' ')) or ''
    end
    local line = 'cancelled\t' .. id .. '\t' .. field(doc.type) .. '\t' ..
        (field(doc.attempts, true) ~= '' and field(doc.attempts, true) or '0') .. '\t' ..
        field(doc.created_ms, true) .. '\t\t\t' .. field(doc.last_error) .. '\n'
    redis.call('XADD', KEYS[8], 'MAXLEN', '~', cap, '*', 'q', string.match(base, '{(.*)}'),
        'e', line)
end
local b = batch_of(body)
if b then batch_count(batch_prefix(base), {[b] = 1}, 'failed') end
return 1
