-- orphans: list the active jobs a worker holds (their lease token names it),
-- one HSCAN step of the lease HASH at a time, with deadlines and bodies, so
-- that the scheduler can take them back when the worker stopped
-- heartbeating. A lease field whose job is no longer active (left by an
-- older scheduler's reclaim) is deleted on the way.
-- KEYS: lease, active
-- ARGV: base, worker id, HSCAN cursor, HSCAN count
-- Returns {next cursor ("0": done), id1, deadline1, token1, body1, ...};
-- body false if gone.
local base, mark = ARGV[1], ARGV[2] .. '/'
local scan = redis.call('HSCAN', KEYS[1], ARGV[3], 'COUNT', tonumber(ARGV[4]))
local out, ids, tokens, scores, keys = {scan[1]}, {}, {}, {}, {}
local pairs_ = scan[2]
for i = 1, #pairs_, 2 do
    local id, token = pairs_[i], pairs_[i + 1]
    -- the token is exactly "WORKER/SEQ": a worker "a" is not "a/b"'s prefix
    if string.sub(token, 1, #mark) == mark and string.find(token, '^%d+$', #mark + 1) then
        local score = redis.call('ZSCORE', KEYS[2], id)
        if score then
            ids[#ids + 1], tokens[#tokens + 1], scores[#scores + 1] = id, token, score
            keys[#keys + 1] = base .. 'job:' .. id
        else
            redis.call('HDEL', KEYS[1], id)
        end
    end
end
if #ids == 0 then return out end
local bodies = redis.call('MGET', unpack(keys))
for i, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = scores[i]
    out[#out + 1] = tokens[i]
    out[#out + 1] = bodies[i]
end
return out
