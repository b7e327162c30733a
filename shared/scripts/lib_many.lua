-- lib_many: one Redis command over a list of any length. Lua's unpack
-- gives at most 8,000 values (Redis's Lua is built with LUAI_MAXCSTACK
-- 8000; more is "too many results to unpack"), and the lists of renew,
-- ack and fail grow with the jobs a worker runs at once (--concurrency
-- goes to 100,000): such a command is sent in parts of MANY_PART values.
-- Not a script of its own: scripts.c puts it in front of each script that
-- says "-- include: lib_many.lua".
local MANY_PART = 1000 -- even: pairs (score, member) stay together

-- redis.call(CMD, KEY, [OPT1, OPT2,] LIST[1..N]) in parts (KEY false: none,
-- as UNLINK takes only keys). Returns the parts' array replies joined
-- (HMGET: one entry per value of LIST, in order), or their integer replies
-- summed.
local function call_many(cmd, key, list, n, opt1, opt2)
    local joined, sum, m = nil, 0, 0
    for j = 1, n, MANY_PART do
        local to = math.min(j + MANY_PART - 1, n)
        local r
        if not key then
            r = redis.call(cmd, unpack(list, j, to))
        elseif opt1 then
            r = redis.call(cmd, key, opt1, opt2, unpack(list, j, to))
        else
            r = redis.call(cmd, key, unpack(list, j, to))
        end
        if type(r) == 'table' then
            if not joined then
                joined, m = r, to - j + 1
            else
                for k = 1, to - j + 1 do joined[m + k] = r[k] end
                m = m + to - j + 1
            end
        else
            sum = sum + r
        end
    end
    return joined or sum
end

-- end of lib_many
