-- purge: delete finished jobs for good (sluice-ctl purge): the oldest ids of
-- a done or dead ZSET up to a score, with their bodies, one batch a call so
-- that Redis is never held for long. Ids that arrive meanwhile with a later
-- score are left alone (the caller passes the newest score it saw when it
-- started). Never called on ready, delayed or active: see ctl/ls.c.
-- KEYS: the ZSET (done or dead)
-- ARGV: base ("P:{Q}:"), max score, batch size
-- Returns the number of jobs deleted (the caller repeats while it is the
-- batch size).
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0,
                       tonumber(ARGV[3]))
if #ids == 0 then return 0 end
local keys = {}
for i, id in ipairs(ids) do keys[i] = ARGV[1] .. 'job:' .. id end
redis.call('UNLINK', unpack(keys))
redis.call('ZREM', KEYS[1], unpack(ids))
return #ids
