-- rl_report: what an upstream's answer says about its limits: learn a
-- route's bucket and its window from Discord's X-RateLimit-* headers, stop
-- every replica on a global 429, hold a bucket or limiter on a local one,
-- and count invalid requests (401, 403, 429 except Discord's "shared" scope).
-- KEYS: block (the bot's "P:{rl:PLATFORM:BOT}:block")
-- ARGV: base, route, major, status, bucket id ("" if none), limit,
--       remaining, reset-after ms, scope ("global" | "user" | "shared" | ""),
--       retry-after ms, limiter to hold on a 429 ("" = none), the server
--       time ms the request was granted at (rl_acquire.lua; 0 = unknown)
-- Returns the server time ms.
--
-- A bucket's state (rl_acquire.lua says how it is used): remaining,
-- reset_at (the latest the server's window may end), close_at (no place
-- granted after: GUARD before the earliest it may end), opened (when our
-- window opened), limit and window. The server's window ends reset-after
-- from when it answered: after the grant and before this report, so at
-- least granted + reset-after and at most now + reset-after. The route
-- remembers "BUCKET LIMIT WINDOW", the shape a new channel starts with.
local GUARD = 50
local base, route, major, status = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local bucket, limit, remaining = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local reset_after, scope, retry_after = tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10])
local hold, granted = ARGV[11], tonumber(ARGV[12] or '0') or 0
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if route ~= '' then
    redis.call('DEL', base .. 'discover:' .. route .. ':' .. major)
    if bucket ~= '' then
        local key = base .. 'bucket:' .. bucket .. ':' .. major
        local st = redis.call('HMGET', key, 'remaining', 'reset_at', 'window', 'limit', 'opened',
                              'close_at')
        local rem, reset_at, window = tonumber(st[1]), tonumber(st[2]), tonumber(st[3]) or 0
        local counted, opened, close_at = tonumber(st[4]), tonumber(st[5]), tonumber(st[6])
        local hdr_reset = now + reset_after
        local earliest = granted > 0 and granted + reset_after - 1 or nil
        if reset_at and now < reset_at then
            if granted > 0 and opened and granted < opened then
                -- granted in an earlier window of ours: it says nothing of
                -- this one
            else
                -- the window we count in: never give back places others
                -- took, but a count made against another limit (a new
                -- channel before its shape was known) is made again
                if counted and counted ~= limit then rem = rem + limit - counted end
                if remaining < rem then rem = remaining end
                if remaining == limit - 1 then
                    -- the first request of the server's window: its end and
                    -- length exactly, so a window learned longer than it is
                    -- now (the bucket changed) does not hold requests back
                    -- for good
                    reset_at, window = hdr_reset, reset_after
                elseif hdr_reset > reset_at then
                    reset_at = hdr_reset
                end
                if earliest and (not close_at or earliest - GUARD > close_at) then
                    close_at = earliest - GUARD
                end
            end
        else
            rem, reset_at, opened = remaining, hdr_reset, granted > 0 and granted or now
            close_at = earliest and earliest - GUARD or nil
        end
        if status == 429 and scope ~= 'global' then
            rem, reset_at = 0, math.max(reset_at, now + retry_after)
        end
        if reset_after > window then window = reset_after end
        redis.call('SET', base .. 'route:' .. route, bucket .. ' ' .. limit .. ' ' .. window, 'EX',
                   86400)
        redis.call('HSET', key, 'remaining', rem, 'reset_at', reset_at, 'limit', limit, 'window',
                   window, 'opened', opened or now)
        if close_at then
            redis.call('HSET', key, 'close_at', close_at)
        else
            redis.call('HDEL', key, 'close_at')
        end
        redis.call('PEXPIRE', key, window + 60000)
    elseif status == 429 and scope ~= 'global' then
        -- a limit without headers: hold the route as a whole
        redis.call('SET', base .. 'discover:' .. route .. ':' .. major, '1', 'PX', retry_after)
    elseif status >= 200 and status < 300 then
        -- answered without a bucket: nothing to learn or wait for; look
        -- again in a minute
        redis.call('SET', base .. 'route:' .. route, '-', 'EX', 60, 'NX')
    end
end
if status == 429 then
    if scope == 'global' then
        redis.call('SET', KEYS[1], 'global 429', 'PX', math.max(1, retry_after))
    elseif hold ~= '' then
        -- the limiter's time moves on; its history (rl_acquire.lua) stays
        local key = base .. 'gcra:' .. hold
        local tat, rest = string.match(redis.call('GET', key) or '0', '^(%S+)(.*)$')
        if tonumber(tat) < now + retry_after then
            redis.call('SET', key, string.format('%.3f', now + retry_after) .. rest, 'PX',
                       retry_after + 1000)
        end
    end
end
if status == 401 or status == 403 or (status == 429 and scope ~= 'shared') then
    local w = math.floor(now / 600000)
    redis.call('INCR', base .. 'invalid:' .. w)
    redis.call('PEXPIRE', base .. 'invalid:' .. w, 1300000)
end
return now
