-- renew: extend the leases of jobs still running.
-- KEYS: active
-- ARGV: lease ms, id...
-- Returns the ids that are no longer active (their lease was reclaimed).
local lease = tonumber(ARGV[1])
local t = redis.call('TIME')
local deadline = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + lease)
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return {} end
local scores = redis.call('ZMSCORE', KEYS[1], unpack(ids))
local za, lost = {}, {}
for i, id in ipairs(ids) do
    if scores[i] then
        za[#za + 1] = deadline
        za[#za + 1] = id
    else
        lost[#lost + 1] = id
    end
end
if #za > 0 then redis.call('ZADD', KEYS[1], 'XX', unpack(za)) end
return lost
