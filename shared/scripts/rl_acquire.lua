-- rl_acquire: may requests to an upstream API go now, and how many? One
-- call asks for one bot and any number of its gates: requests that wait
-- for the same route and major parameter (channel, chat). For each gate it
-- checks every limit that applies and takes places under each only for as
-- many as all allow, so requests that must wait take nothing. Gates are
-- answered in order and see what the ones before them took: a bot-wide
-- limit (Discord's global, Telegram's per bot) is shared out, first come.
-- KEYS: block (the bot's "P:{rl:PLATFORM:BOT}:block")
-- ARGV: base ("P:{rl:PLATFORM:BOT}:"), invalid-request threshold per 10 min
--       (0 = none), number of gates, then per gate: route ("" = no learned
--       bucket), major parameter, COUNT (>= 1), number of rate limits, and
--       per rate limit 3 values: name, emission interval ms, burst
-- Returns 6 values per gate: 0, n, "", granted at, window, seq to let n
-- (1..COUNT) go (0, 1, "discover", ... when this one request learns its
-- route's bucket and must be reported), or wait ms, 0, reason, 0, 0, 0:
-- "blocked" (a global 429 or an operator pause), "invalid" (too many
-- 401/403/429 lately), "discovering" (the route's bucket is being learned
-- by another request), "bucket", "rate". "granted at" is the server time
-- ms of the grant, "window" the bucket window the places were taken in (0
-- = none) and "seq" the number of the first place under the gate's first
-- rate limiter (the n places are seq .. seq + n - 1; 0 = none): a
-- request's answer is reported with the first two, and a place not used
-- is given back with all three.
--
-- Release mode, a place granted and not used (the request was not sent):
-- ARGV: base, "release", route, major, granted at, window, discovering
-- (0/1), seq, the gate's first rate limiter: name, emission interval ms
-- ("", 0 when none). The route's bucket gets the place back if its window
-- is still the one it was taken in; the rate limiter gets back as much of
-- its interval as it can without ever allowing more than it would have had
-- the request never been granted (see "giving back" below); the route's
-- discovery is freed. Returns the ms given back to the limiter and 1 if
-- the bucket got its place back, else 0.
--
-- Bucket windows. Discord opens a bucket's window when its first request
-- arrives; ours opens at the grant, a little earlier, and the answers tell
-- when the server's ends (reset). A request granted near the end of our
-- window may arrive after the server's window ended and count in the next
-- one, with the places we grant there: so no place is granted later than
-- GUARD ms before the earliest the server's window may end ("close_at"),
-- and the next window opens no earlier than the latest it may end
-- ("reset_at"). A new instance of a bucket (a new channel of a known
-- route) starts with the shape the route's bucket was learned to have.
--
-- Rate limiters are GCRA: "tat" (theoretical arrival time) moves one
-- interval T ahead per request, and a request may go while tat - now is at
-- most (burst - 1) * T. Giving back. Were a request never granted, tat
-- would be lower by T, less whatever of that the limiter lost while its
-- level (tat - now) was below T at some moment after the grant (the level
-- cannot go below 0, so an idle moment forgets). So a release moves tat
-- back by min(T, the lowest level since the grant). The level only falls
-- between events, so its lowest is just before a later grant, just after a
-- later release, or now. Each limiter numbers its places (seq) and keeps
-- the suffix minima of those levels: (key, level) pairs, keys and levels
-- rising, key = the last place granted before the event; the lowest level
-- after place s is that of the first pair with key >= s. At most KEEP
-- pairs are kept: a place at or before "since" (the key of one dropped)
-- gets nothing back, nor one granted more than a second ago (the key may
-- have expired and started again since).
-- Idle start. A limiter nobody asked for a whole interval starts with one
-- place, not its burst: its tat is taken as now + (burst - 1) * T. The
-- burst is for catching up a grant a timer fired late, not for the first
-- second after idle: 2 at once and one per T after put 2 + W / T grants in
-- a window W from idle, which at 96% of Discord's 50/s is 50 in a second
-- and 51 when the first of them reaches the server a little late (new
-- connections). From idle a second now holds 1 + W / T (49).
local GUARD, GRACE, KEEP = 50, 50, 8
local base = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}

-- GCRA state read once per call and written back once at the end:
-- "tat seq since key level key level ..."; a bare number (a limiter held
-- by a 429 before this format) has no history
local tats, order = {}, {}
local function limiter(key)
    local e = tats[key]
    if not e then
        local v = redis.call('GET', key)
        e = {tat = 0, seq = 0, since = 0, lows = {}, dirty = false}
        local i = 0
        for x in string.gmatch(v or '', '%S+') do
            i = i + 1
            if i == 1 then
                e.tat = tonumber(x)
            elseif i == 2 then
                e.seq = tonumber(x)
            elseif i == 3 then
                e.since = tonumber(x)
            else
                e.lows[#e.lows + 1] = tonumber(x)
            end
        end
        if i < 3 then e.since = e.seq end -- no history: nothing given back
        tats[key] = e
        order[#order + 1] = key
    end
    return e
end

-- the limiter's level was LEVEL after its place number e.seq
local function note(e, level)
    local lows = e.lows
    while #lows >= 2 and lows[#lows] >= level do
        lows[#lows] = nil
        lows[#lows] = nil
    end
    lows[#lows + 1] = e.seq
    lows[#lows + 1] = level
    if #lows > 2 * KEEP then
        e.since = math.max(e.since, lows[1])
        table.remove(lows, 1)
        table.remove(lows, 1)
    end
end

-- where E's tat stands for a grant now (see "Idle start")
local function start_tat(e, T, burst)
    if e.tat < now - T then return now + (burst - 1) * T end
    return math.max(e.tat, now)
end

local function save()
    for _, key in ipairs(order) do
        local e = tats[key]
        if e.dirty then
            local parts = {string.format('%.3f %d %d', e.tat, e.seq, e.since)}
            for i = 1, #e.lows, 2 do
                parts[#parts + 1] = string.format('%d %.3f', e.lows[i], e.lows[i + 1])
            end
            redis.call('SET', key, table.concat(parts, ' '), 'PX', math.ceil(e.tat - now) + 1000)
        end
    end
end

-- the route's bucket: its id and the shape it was learned to have
local function route_bucket(route)
    local v = redis.call('GET', base .. 'route:' .. route)
    if not v or v == '-' then return v end
    local b, limit, window = string.match(v, '^(%S+) (%d+) (%d+)$')
    if not b then return v end -- learned before shapes were kept
    return b, tonumber(limit), tonumber(window)
end

if ARGV[2] == 'release' then
    local route, major = ARGV[3], ARGV[4]
    local granted, window, discovering = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
    local seq, name, T = tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10])
    local given, bucket_given = 0, 0
    if name ~= '' and seq > 0 and now - granted <= 1000 then
        local e = limiter(base .. 'gcra:' .. name)
        if seq > e.since and seq <= e.seq then
            local low = T
            for i = 1, #e.lows, 2 do
                if e.lows[i] >= seq then
                    low = e.lows[i + 1]
                    break
                end
            end
            local level = math.max(0, e.tat - now)
            given = math.min(T, low, level)
            if given > 0 then
                e.tat = e.tat - given
                note(e, level - given)
                e.dirty = true
            end
        end
    end
    save()
    if route ~= '' and window > 0 then
        local b = route_bucket(route)
        if b and b ~= '-' then
            local key = base .. 'bucket:' .. b .. ':' .. major
            local st = redis.call('HMGET', key, 'opened', 'reset_at', 'remaining', 'limit')
            local rem, limit = tonumber(st[3]), tonumber(st[4])
            if tonumber(st[1]) == window and now < (tonumber(st[2]) or 0) and rem and limit and
                rem < limit then
                redis.call('HINCRBY', key, 'remaining', 1)
                bucket_given = 1
            end
        end
    end
    if discovering then redis.call('DEL', base .. 'discover:' .. route .. ':' .. major) end
    return {math.floor(given), bucket_given}
end


local threshold, ngates = tonumber(ARGV[2]), tonumber(ARGV[3])

local function everyone(wait, reason)
    for _ = 1, ngates do
        out[#out + 1] = wait
        out[#out + 1] = 0
        out[#out + 1] = reason
        out[#out + 1] = 0
        out[#out + 1] = 0
        out[#out + 1] = 0
    end
    return out
end

local pttl = redis.call('PTTL', KEYS[1])
if pttl > 0 then return everyone(pttl, 'blocked') end

if threshold > 0 then
    -- a sliding estimate over two fixed 10-minute windows
    local w = math.floor(now / 600000)
    local cur = tonumber(redis.call('GET', base .. 'invalid:' .. w) or '0')
    local prev = tonumber(redis.call('GET', base .. 'invalid:' .. (w - 1)) or '0')
    local into = (now % 600000) / 600000
    if cur + prev * (1 - into) >= threshold then
        return everyone(math.max(1000, math.floor((1 - into) * 60000)), 'invalid')
    end
end

-- One gate: the wait (0 = go), how many, the reason, the bucket window and
-- the number of the first place.
local function gate(route, major, n, first, last)
    -- this gate's limiters; one an earlier gate of this call found closed
    -- (the bot's own, usually) closes this one too: no need to look at its
    -- route
    local lims = {}
    for i = first, last, 3 do
        local e = limiter(base .. 'gcra:' .. ARGV[i])
        if e.closed_until then return math.ceil(e.closed_until - now), 0, 'rate' end
        lims[#lims + 1] = {e = e, T = tonumber(ARGV[i + 1]), burst = tonumber(ARGV[i + 2])}
    end
    local bucket_key, fresh, lock, opened, limit, window = nil, false, nil, 0, 1, 1000
    if route ~= '' then
        local b, shape_limit, shape_window = route_bucket(route)
        if b == '-' then
            -- answered without bucket headers lately: no bucket to keep to
        elseif not b then
            -- first request of a route: its bucket is unknown until the
            -- answer comes, so only one request at a time learns it
            lock = base .. 'discover:' .. route .. ':' .. major
            if not redis.call('SET', lock, '1', 'NX', 'PX', 5000) then
                return 20, 0, 'discovering'
            end
            n = 1
        else
            bucket_key = base .. 'bucket:' .. b .. ':' .. major
            local st = redis.call('HMGET', bucket_key, 'remaining', 'reset_at', 'close_at',
                                  'opened', 'limit', 'window')
            local rem, reset_at, close_at = tonumber(st[1]), tonumber(st[2]), tonumber(st[3])
            if reset_at and now < reset_at then
                if (rem and rem <= 0) or (close_at and now >= close_at) then
                    return reset_at - now, 0, 'bucket'
                end
                if rem and rem < n then n = rem end
                opened = tonumber(st[4]) or 0
            else
                -- a new window; a new channel of a known route starts with
                -- the route's bucket shape
                fresh = true
                limit = tonumber(st[5]) or shape_limit or 1
                window = tonumber(st[6]) or shape_window or 1000
                if limit < n then n = math.max(1, limit) end
            end
        end
    end

    -- GCRA: the k-th request more may go when tat + (k - 1) * T - (burst - 1) * T <= now
    local wait = 0
    for _, l in ipairs(lims) do
        local e, T, burst = l.e, l.T, l.burst
        local tat = start_tat(e, T, burst)
        local allow_at = tat - (burst - 1) * T
        if allow_at > now then
            wait = math.max(wait, allow_at - now)
            e.closed_until = allow_at -- only grows within a call: closed for the rest of it
        elseif T > 0 then
            local k = math.floor((now - allow_at + 0.01) / T) + 1 -- 0.01 ms: float error at epoch ms
            if k < n then n = k end
        end
    end
    if wait > 0 then
        if lock then redis.call('DEL', lock) end
        return math.ceil(wait), 0, 'rate'
    end
    local seq = 0
    for i, l in ipairs(lims) do
        local e = l.e
        note(e, math.max(0, e.tat - now))
        if i == 1 then seq = e.seq + 1 end
        e.seq = e.seq + n
        e.tat = start_tat(e, l.T, l.burst) + n * l.T
        e.dirty = true
    end
    if bucket_key then
        if fresh then
            -- a new window of ours: the server's starts when this request
            -- arrives, a little later, and its answer corrects the reset time
            opened = now
            redis.call('HSET', bucket_key, 'remaining', limit - n, 'reset_at', now + window + GRACE,
                       'close_at', now + window - GUARD, 'opened', now, 'limit', limit, 'window',
                       window)
            redis.call('PEXPIRE', bucket_key, window + 60000)
        else
            redis.call('HINCRBY', bucket_key, 'remaining', -n)
        end
    end
    if lock then return 0, 1, 'discover', 0, seq end
    return 0, n, '', opened, seq
end

local a = 4
for _ = 1, ngates do
    local route, major = ARGV[a], ARGV[a + 1]
    local n, nlimits = math.max(1, tonumber(ARGV[a + 2])), tonumber(ARGV[a + 3])
    local first = a + 4
    a = first + 3 * nlimits
    local wait, granted, reason, opened, seq = gate(route, major, n, first, a - 1)
    out[#out + 1] = wait
    out[#out + 1] = granted
    out[#out + 1] = reason
    out[#out + 1] = wait == 0 and now or 0
    out[#out + 1] = opened or 0
    out[#out + 1] = seq or 0
end
save()
return out
