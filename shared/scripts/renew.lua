-- renew: extend the leases of jobs still running, for the holder of each
-- lease only: a job whose lease token is another (or gone) keeps its
-- deadline, and counts as stale. A deadline only moves later (GT).
-- KEYS: active, stats, lease
-- ARGV: lease ms, then pairs (id, token)
-- Returns the ids whose lease this caller no longer holds (the scheduler
-- took them back; they may run elsewhere now).
-- include: lib_many.lua
local lease = tonumber(ARGV[1])
local t = redis.call('TIME')
local deadline = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + lease)
local ids = {}
for i = 2, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return {} end
local held = call_many('HMGET', KEYS[3], ids, #ids)
local za, lost = {}, {}
for i, id in ipairs(ids) do
    if held[i] == ARGV[2 * i + 1] then
        za[#za + 1] = deadline
        za[#za + 1] = id
    else
        lost[#lost + 1] = id
    end
end
if #za > 0 then call_many('ZADD', KEYS[1], za, #za, 'XX', 'GT') end
if #lost > 0 then redis.call('HINCRBY', KEYS[2], 'stale', #lost) end
return lost
