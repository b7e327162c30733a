-- app_open: register an application whose interview channel is open and
-- whose intro was posted: its record, and its place among the pending ones
-- the approval sweep checks. Running it again (a retried interview job)
-- changes nothing.
-- KEYS: app (HASH), pending (ZSET, score = deadline ms)
-- ARGV: application id, ms from now to its deadline, then field, value pairs
-- Returns the application's state: "interviewing" when it is (newly or
-- still) open, or the decision taken meanwhile.
local state = redis.call('HGET', KEYS[1], 'state')
if state then return state end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[2])
local fields = {'state', 'interviewing', 'opened_ms', now, 'deadline_ms', deadline,
                'reminders_done', 0, 'image', 0}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], deadline, ARGV[1])
return 'interviewing'
