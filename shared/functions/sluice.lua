#!lua name=sluice
-- sluice: the Redis Function library (Redis 7+) through which any Redis
-- client enqueues Sluice jobs with one FCALL, no Sluice binary on its side:
--
--   FCALL sluice_enqueue 1 PREFIX:{QUEUE} ENVELOPE_JSON [ENVELOPE_JSON ...]
--   FCALL_RO sluice_job 1 PREFIX:{QUEUE} ID     -> {state, envelope JSON}
--   FCALL_RO sluice_version 0                   -> the library's version
--
-- sluice_enqueue checks each envelope (schemas/envelope.json) as
-- sluice-producer does, completes it (id, queue, created_ms: Redis TIME)
-- and stores it with enqueue_jobs, the very text the CLI's enqueue.lua runs
-- (lib_enqueue.lua): idempotency keys (kept 24 h), delay_ms / run_at_ms,
-- priorities, batches (open ones: sluice-producer --batch-open), the
-- wake-up of idle workers and of the scheduler, stats "enqueued", and the
-- queue in PREFIX:queues. The payload's schema is checked by the worker.
--
-- Reply: one envelope -> its job's id (a bulk string); several -> an array
-- of ids in the order given. An idempotency key seen before gives the id of
-- the job that used it. Errors are error replies "ERR sluice: FIELD:
-- reason": when an envelope is malformed nothing of the call is stored and,
-- with several envelopes, the message starts "envelope N: " (1-based).
-- When Redis refuses a well-formed job (its batch is not open, its chosen id
-- exists) the one envelope's reply is that error; with several, that entry
-- of the array is an error and the others are stored.
--
-- The one key names the queue (its hash tag is the queue's slot); the
-- other keys of the queue (ready lists, delayed, stats, jobs, idempotency
-- keys) are derived from it and share its slot, so on a Redis Cluster the
-- call goes to the right node. PREFIX:queues, a batch's hash and the
-- scheduler's channel are outside that slot: like the rest of Sluice this
-- is for one Redis (or a Cluster whose keys for Sluice live on one node).
--
-- Built by tools/funclib.sh (make): each "-- include: NAME.lua" line is
-- replaced by shared/scripts/NAME.lua and "-- include-types" by the job
-- types that schemas/ describes. sluice-ctl install loads the result
-- (FUNCTION LOAD REPLACE); `sluice-ctl install --print` shows it.
-- include: lib_batch.lua
-- include: lib_enqueue.lua
-- include-types

-- Raised with every change of what the functions take or return;
-- sluice-ctl install compares it with the one loaded.
--   1: the first
--   2: job types are those of the job schemas (1 also took "openapi")
local SLUICE_VERSION = 2

local IDEM_TTL_MS = '86400000'   -- sluice-producer --idempotency-ttl-ms default
local MAX_PAYLOAD = 65536        -- sluice-producer --max-payload-bytes default
local MAX_ENVELOPES = 10000      -- per call (sluice-producer --batch-size's limit)
local MAX_DEPTH = 128            -- SL_JSONCHECK_MAX_DEPTH
local MAX_NUMBER = 63            -- SL_JSONCHECK_MAX_NUMBER
local DBL_EPSILON = 2.220446049250313e-16

-- Redis runs a library's top level without string, math or table (they
-- exist when a function is called): what needs them is set by init().
local find, byte, sub, fmt, match, gsub, concat

-- ---- errors ---------------------------------------------------------------

-- The path of the value being read, as jsoncheck.c writes it
-- ("payload.items[3].name"): keys (strings) and indexes (numbers), joined
-- only when an error is raised.
local path, depth = {}, 0

local function path_text()
    local t = {}
    for d = 1, depth do
        local p = path[d]
        if p == nil then break end -- a container's first member not read yet
        if type(p) == 'number' then
            t[#t + 1] = '[' .. p .. ']'
        else
            t[#t + 1] = (#t > 0 and '.' or '') .. p
        end
    end
    return concat(t)
end

-- Raises the error the caller turns into "ERR sluice: MSG".
local function raise(msg)
    error({sluice = msg}, 0)
end

-- A problem in the JSON text at byte I (1-based) of the envelope.
local function bad_json(i, reason)
    local p = path_text()
    raise((p ~= '' and p or '(document)') .. ': ' .. reason .. ' (at byte ' .. (i - 1) .. ')')
end

local function show(s, i)
    local b = byte(s, i)
    if not b then return 'the end' end
    if b >= 32 and b < 127 then return "'" .. string.char(b) .. "'" end
    return fmt('byte 0x%02x', b)
end

-- ---- strings --------------------------------------------------------------

-- Checks that bytes I..J of S are well-formed UTF-8 (Unicode's table 3-7).
local function check_utf8(s, i, j)
    local k = find(s, '[\128-\255]', i)
    while k and k <= j do
        local b, n, lo, hi = byte(s, k), 0, 0x80, 0xbf
        if b < 0xc0 then
            bad_json(k, fmt('invalid UTF-8: a continuation byte where a character should ' ..
                'start (byte 0x%02x)', b))
        elseif b < 0xc2 then
            bad_json(k, fmt('invalid UTF-8: overlong encoding (byte 0x%02x)', b))
        elseif b < 0xe0 then
            n = 2
        elseif b < 0xf0 then
            n = 3
            if b == 0xe0 then lo = 0xa0 elseif b == 0xed then hi = 0x9f end
        elseif b < 0xf5 then
            n = 4
            if b == 0xf0 then lo = 0x90 elseif b == 0xf4 then hi = 0x8f end
        else
            bad_json(k, fmt('invalid UTF-8: not a UTF-8 byte (beyond U+10FFFF) (byte 0x%02x)', b))
        end
        for m = 1, n - 1 do
            local c = byte(s, k + m)
            if k + m > j or c < 0x80 or c > 0xbf then
                bad_json(k, fmt('invalid UTF-8: truncated sequence (byte 0x%02x)', b))
            elseif m == 1 and c < lo then
                bad_json(k, fmt('invalid UTF-8: overlong encoding (byte 0x%02x)', b))
            elseif m == 1 and c > hi then
                bad_json(k, fmt('invalid UTF-8: %s (byte 0x%02x)', b == 0xed and
                    'encodes a surrogate (U+D800..U+DFFF)' or 'beyond U+10FFFF', b))
            end
        end
        k = find(s, '[\128-\255]', k + n)
    end
end

local function utf8_char(u)
    if u < 0x80 then return string.char(u) end
    if u < 0x800 then
        return string.char(0xc0 + math.floor(u / 64), 0x80 + u % 64)
    end
    if u < 0x10000 then
        return string.char(0xe0 + math.floor(u / 4096), 0x80 + math.floor(u / 64) % 64,
            0x80 + u % 64)
    end
    return string.char(0xf0 + math.floor(u / 262144), 0x80 + math.floor(u / 4096) % 64,
        0x80 + math.floor(u / 64) % 64, 0x80 + u % 64)
end

local unescape = {['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n',
    r = '\r', t = '\t'}

-- Reads the string whose opening quote is at I: its decoded text, the
-- index after its closing quote, and true when the text between the quotes
-- is already as cJSON prints it (nothing escaped, no control character).
local clean = false -- the envelope has no backslash, control or non-ASCII byte

local function read_string(s, i)
    local j = find(s, '"', i + 1, true)
    if j and clean then return sub(s, i + 1, j - 1), j + 1, true end
    if j then -- the common case: nothing escaped (plain finds are fast)
        local raw = sub(s, i + 1, j - 1)
        if not find(raw, '\\', 1, true) then
            if not find(raw, '[%z\1-\31\128-\255]') then return raw, j + 1, true end
            if not find(raw, '[%z\1-\31]') then
                check_utf8(s, i + 1, j - 1)
                return raw, j + 1, true
            end
        end
    end
    j = find(s, '[%z\1-\31"\\]', i + 1)
    local parts, from = {}, i + 1
    while true do
        if not j then bad_json(i, 'unterminated string') end
        local c = byte(s, j)
        if c == 34 then break end
        parts[#parts + 1] = sub(s, from, j - 1)
        if c == 92 then
            local x = sub(s, j + 1, j + 1)
            if x == 'u' then
                local h = sub(s, j + 2, j + 5)
                if not find(h, '^%x%x%x%x$') then
                    bad_json(j, '\\u must be followed by four hex digits')
                end
                local u = tonumber(h, 16)
                if u == 0 then
                    bad_json(j, '\\u0000 (NUL) in a string: refused, it would cut the string')
                elseif u >= 0xdc00 and u <= 0xdfff then
                    bad_json(j, fmt('lone low surrogate \\u%04x', u))
                elseif u >= 0xd800 and u <= 0xdbff then
                    local lo = sub(s, j + 6, j + 7) == '\\u' and
                        find(sub(s, j + 8, j + 11), '^%x%x%x%x$') and
                        tonumber(sub(s, j + 8, j + 11), 16)
                    if not lo or lo < 0xdc00 or lo > 0xdfff then
                        bad_json(j, fmt('lone high surrogate \\u%04x (a low surrogate ' ..
                            '\\udc00..\\udfff must follow)', u))
                    end
                    u = 0x10000 + (u - 0xd800) * 1024 + (lo - 0xdc00)
                    j = j + 6
                end
                parts[#parts + 1] = utf8_char(u)
                from = j + 6
            elseif unescape[x] then
                parts[#parts + 1] = unescape[x]
                from = j + 2
            else
                bad_json(j, 'invalid escape: \\ followed by ' .. show(s, j + 1))
            end
        elseif c == 0 then
            bad_json(j, 'NUL byte in a string')
        else
            bad_json(j, fmt('unescaped control character 0x%02x in a string (write it as ' ..
                '\\u%04x)', c, c))
        end
        j = find(s, '[%z\1-\31"\\]', from)
    end
    parts[#parts + 1] = sub(s, from, j - 1)
    local high = find(s, '[\128-\255]', i + 1)
    if high and high < j then check_utf8(s, high, j - 1) end
    return concat(parts), j + 1
end

-- How cJSON prints a string (payloads: cJSON_PrintUnformatted) and how
-- util.c's sl_buf_json_str does (the envelope's own fields): they differ
-- only in \b and \f. Filled by init().
local cjson_escape, sl_escape

local function quote(v, escape)
    if not find(v, '[%z\1-\31"\\]') then return '"' .. v .. '"' end
    return '"' .. gsub(v, '[%z\1-\31"\\]', escape) .. '"'
end

-- ---- numbers --------------------------------------------------------------

-- The decimal value of a number's text: sign, digits without leading or
-- trailing zeros, and the exponent of 0.DIGITS (jsoncheck.c's decimal_of).
local function decimal(t)
    local sign, int, frac, ex = match(t, '^([-+]?)(%d*)%.?(%d*)[eE]?([-+]?%d*)$')
    local digits = gsub(int .. frac, '^0+', '')
    local point = #int - (#int + #frac - #digits)
    digits = gsub(digits, '0+$', '')
    if digits == '' then return '0' end
    return sign .. digits .. 'e' .. (point + (tonumber(ex) or 0))
end

-- Reads the number at I; returns its text as cJSON prints it, its value,
-- and the index after it. Refuses (as jsoncheck.c does) a number cJSON
-- would not store with exactly the value written.
local function read_number(s, i)
    local j = i
    if byte(s, j) == 45 then j = j + 1 end
    local c = byte(s, j)
    if not c or c < 48 or c > 57 then bad_json(i, "'-' must be followed by a digit") end
    if c == 48 then
        j = j + 1
        c = byte(s, j)
        if c and c >= 48 and c <= 57 then
            bad_json(i, 'a number must not start with 0 followed by digits')
        end
    else
        j = find(s, '[^0-9]', j) or #s + 1
    end
    local plain, int_end = true, j
    if byte(s, j) == 46 then
        plain = false
        c = byte(s, j + 1)
        if not c or c < 48 or c > 57 then bad_json(j + 1, 'expected a digit after the decimal point') end
        j = find(s, '[^0-9]', j + 1) or #s + 1
    end
    c = byte(s, j)
    if c == 101 or c == 69 then
        plain = false
        j = j + 1
        c = byte(s, j)
        if c == 43 or c == 45 then j = j + 1 end
        c = byte(s, j)
        if not c or c < 48 or c > 57 then bad_json(j, 'expected a digit in the exponent') end
        j = find(s, '[^0-9]', j) or #s + 1
    end
    local t = sub(s, i, j - 1)
    if #t > MAX_NUMBER then
        bad_json(i, fmt('a number of %d characters (at most %d)', #t, MAX_NUMBER))
    end
    local d = tonumber(t)
    -- cJSON 1.7.15's print_number: %1.15g, or %1.17g when that does not
    -- read back as the same double; an integer of up to 15 digits is
    -- printed as written ("-0" too)
    if plain and int_end - i - (byte(s, i) == 45 and 1 or 0) <= 15 then return t, d, j end
    if d ~= d or d == math.huge or d == -math.huge then
        bad_json(i, 'number ' .. t .. ' is out of range (it would be stored as null)')
    end
    local printed = fmt('%1.15g', d)
    local back = tonumber(printed)
    if math.abs(back - d) > math.max(math.abs(back), math.abs(d)) * DBL_EPSILON then
        printed = fmt('%1.17g', d)
    end
    if decimal(t) ~= decimal(printed) then
        bad_json(i, 'number ' .. t .. ' would be stored as ' .. printed ..
            " (beyond a double's precision: send big ids as strings)")
    end
    return printed, d, j
end

-- ---- values ---------------------------------------------------------------

-- Skips JSON white space from I; refuses other control bytes.
local function skip_ws(s, i)
    local b = byte(s, i)
    if b and b > 32 and b ~= 127 then return i end -- compact JSON: no white space
    i = find(s, '[^ \t\n\r]', i) or #s + 1
    b = byte(s, i)
    if b and (b < 32 or b == 127) then
        bad_json(i, b == 0 and 'NUL byte outside a string' or
            fmt('control character 0x%02x outside a string', b))
    end
    return i
end

local read_value
local WORDS = {'true', 'false', 'null'}

-- Reads the value at I (white space skipped), appending its compact text as
-- cJSON prints it to OUT. Returns the index after it, its JSON type
-- ("object", "array", "string", "integer", "number", "boolean", "null") and,
-- for a string or a number, its value.
read_value = function(s, i, out)
    local c = byte(s, i)
    if c == 123 or c == 91 then -- { [
        if depth >= MAX_DEPTH then bad_json(i, 'nested deeper than ' .. MAX_DEPTH .. ' levels') end
        local object, close = c == 123, c == 123 and 125 or 93
        out[#out + 1] = object and '{' or '['
        depth = depth + 1
        path[depth] = nil
        local seen, n = object and {} or nil, 0
        i = skip_ws(s, i + 1)
        if byte(s, i) == close then
            depth = depth - 1
            out[#out + 1] = object and '}' or ']'
            return i + 1, object and 'object' or 'array'
        end
        while true do
            -- a clean envelope (no escape, control or non-ASCII byte: no
            -- white space but spaces) reads a member's name, its colon and
            -- the spaces around it in one match
            local key, after = nil, nil
            if object and clean then key, after = match(s, '^"([^"]*)" *: *()', i) end
            if key then
                path[depth] = key
                if seen[key] then
                    bad_json(i, 'duplicate member name (first at byte ' .. (seen[key] - 1) .. ')')
                end
                seen[key] = i
                local m = #out
                if n > 0 then
                    out[m + 1], m = ',', m + 1
                end
                out[m + 1], out[m + 2], out[m + 3] = '"', key, '":'
                i = after
            elseif object then
                if byte(s, i) ~= 34 then
                    bad_json(i, byte(s, i) and 'expected a member name in quotes, got ' ..
                        show(s, i) or 'unexpected end: expected a member name in quotes')
                end
                local at, plain = i, false
                key, i, plain = read_string(s, i)
                path[depth] = key
                if seen[key] then
                    bad_json(at, 'duplicate member name (first at byte ' .. (seen[key] - 1) .. ')')
                end
                seen[key] = at
                if n > 0 then out[#out + 1] = ',' end
                out[#out + 1] = plain and sub(s, at, i - 1) or quote(key, cjson_escape)
                out[#out + 1] = ':'
                i = skip_ws(s, i)
                if byte(s, i) ~= 58 then bad_json(i, "expected ':' after the member name") end
                i = skip_ws(s, i + 1)
            else
                path[depth] = n
                if n > 0 then out[#out + 1] = ',' end
            end
            i = skip_ws(s, (read_value(s, i, out)))
            n = n + 1
            local b = byte(s, i)
            if b == close then break end
            if b ~= 44 then
                bad_json(i, b and fmt("expected ',' or '%s', got %s", string.char(close), show(s, i))
                    or fmt("unexpected end: '%s' missing", string.char(close)))
            end
            i = skip_ws(s, i + 1)
        end
        depth = depth - 1
        out[#out + 1] = object and '}' or ']'
        return i + 1, object and 'object' or 'array'
    elseif c == 34 then
        if clean then
            local v, after = match(s, '^"([^"]*)"()', i)
            if v then
                local m = #out
                out[m + 1], out[m + 2], out[m + 3] = '"', v, '"'
                return after, 'string', v
            end
        end
        local v, at, plain = nil, i, false
        v, i, plain = read_string(s, i)
        out[#out + 1] = plain and sub(s, at, i - 1) or quote(v, cjson_escape)
        return i, 'string', v
    elseif c == 45 or (c and c >= 48 and c <= 57) then
        local text, v
        text, v, i = read_number(s, i)
        out[#out + 1] = text
        return i, v == math.floor(v) and 'integer' or 'number', v
    end
    for _, w in ipairs(WORDS) do
        if c == byte(w) then
            if sub(s, i, i + #w - 1) ~= w then bad_json(i, 'expected ' .. w) end
            out[#out + 1] = w
            return i + #w, w == 'null' and 'null' or 'boolean'
        end
    end
    bad_json(i, c and 'expected a value, got ' .. show(s, i) or 'unexpected end: a value is missing')
end

-- ---- the envelope ---------------------------------------------------------

-- schemas/envelope.json's properties: JSON type, then limits. "name" is
-- $defs/name (^[a-z][a-z0-9_-]*$, 64 characters at most).
local NAME = {'string', max = 64, pattern = '^[a-z][a-z0-9_-]*$', shown = '^[a-z][a-z0-9_-]*$'}
local FIELDS = {
    id = {'string', min = 1, max = 64, pattern = '^[0-9A-Za-z_-]+$', shown = '^[0-9A-Za-z_-]+$'},
    type = NAME,
    queue = NAME,
    priority = {'enum'},
    payload = {'object'},
    max_attempts = {'integer', min = 1, max = 1000},
    timeout_ms = {'integer', min = 1, max = 86400000},
    run_at_ms = {'integer', min = 0, max = 253402300799999},
    delay_ms = {'integer', min = 0, max = 31536000000},
    idempotency_key = {'string', min = 1, max = 200},
    batch = {'string', max = 64, pattern = '^[0-9A-Za-z_.:-]+$', shown = '^[0-9A-Za-z_.:-]+$'},
    created_ms = {'integer', min = 0, max = 253402300799999},
    attempts = {'integer', min = 0, max = 1000},
    last_error = {'string', max = 2048},
}
local PRIORITY = {critical = 0, high = 1, normal = 2, low = 3}

-- A value as schema.c's messages show it.
local function shown(kind, v, text)
    if kind == 'string' then return quote(v, sl_escape) end
    if kind == 'integer' or kind == 'number' then return text end
    return kind == 'boolean' and text or kind
end

-- Checks member NAME (of JSON type KIND, value V, cJSON's text TEXT)
-- against its schema, as schema.c would; returns nothing or raises.
local function check_field(name, kind, v, text)
    local f = FIELDS[name]
    if not f then raise('(document): unknown field "' .. name .. '"') end
    local want = f[1]
    if want == 'enum' then
        if kind ~= 'string' or not PRIORITY[v] then
            raise(name .. ': ' .. shown(kind, v, text) .. ' is not one of critical, high, normal, low')
        end
        return
    end
    if kind ~= want and not (want == 'number' and kind == 'integer') then
        raise(name .. ': expected ' .. want .. ', got ' .. kind)
    end
    if want == 'integer' then
        if v < f.min then raise(name .. ': ' .. text .. ' is below the minimum ' .. f.min) end
        if v > f.max then
            raise(name .. ': ' .. text .. ' is above the maximum ' .. fmt('%d', f.max))
        end
    elseif want == 'string' then
        local chars = #v
        if find(v, '[\128-\255]') then chars = select(2, gsub(v, '[^\128-\191]', '')) end
        if f.min and chars < f.min then
            raise(fmt('%s: %d character%s, the minimum is %d', name, chars,
                chars == 1 and '' or 's', f.min))
        end
        if chars > f.max then
            raise(fmt('%s: %d character%s, the limit is %d', name, chars,
                chars == 1 and '' or 's', f.max))
        end
        if f.pattern and not find(v, f.pattern) then
            raise(name .. ': ' .. quote(v, sl_escape) .. ' does not match ' .. f.shown)
        end
    end
end

-- Parses and checks envelope TEXT for queue QUEUE. Returns its fields
-- (values; "payload" is its compact text) or raises.
local function parse_envelope(text, queue)
    if #text > MAX_PAYLOAD + 8192 then
        raise(fmt('payload: the job is %d bytes, the payload limit is %d', #text, MAX_PAYLOAD))
    end
    depth = 0
    -- most envelopes: strings need no check but for their closing quote
    clean = not find(text, '[%z\1-\31\\\128-\255]')
    local i = skip_ws(text, 1)
    if byte(text, i) ~= 123 then
        if i > #text then bad_json(i, 'no JSON value (empty)') end
        local _, kind = read_value(text, i, {})
        raise('the job must be a JSON object, got ' .. kind)
    end
    local job, seen, members = {}, {}, {}
    local scratch = {}
    depth = 1
    path[1] = nil
    i = skip_ws(text, i + 1)
    if byte(text, i) ~= 125 then
        while true do
            if byte(text, i) ~= 34 then
                bad_json(i, byte(text, i) and 'expected a member name in quotes, got ' ..
                    show(text, i) or 'unexpected end: expected a member name in quotes')
            end
            local key, at = nil, i
            key, i = read_string(text, i)
            path[1] = key
            if seen[key] then
                bad_json(at, 'duplicate member name (first at byte ' .. (seen[key] - 1) .. ')')
            end
            seen[key] = at
            i = skip_ws(text, i)
            if byte(text, i) ~= 58 then bad_json(i, "expected ':' after the member name") end
            i = skip_ws(text, i + 1)
            local out = key == 'payload' and {} or scratch
            local n0 = #out
            local kind, v
            i, kind, v = read_value(text, i, out)
            local m = #members
            members[m + 1], members[m + 2], members[m + 3], members[m + 4] = key, kind, v,
                out[n0 + 1] or false
            job[key] = key == 'payload' and concat(out) or v
            i = skip_ws(text, i)
            local b = byte(text, i)
            if b == 125 then break end
            if b ~= 44 then
                bad_json(i, b and "expected ',' or '}', got " .. show(text, i) or
                    "unexpected end: '}' missing")
            end
            i = skip_ws(text, i + 1)
        end
    end
    depth = 0
    i = skip_ws(text, i + 1)
    if i <= #text then
        local b = byte(text, i)
        bad_json(i, (b == 123 or b == 91) and 'a second JSON value after the first (one value only)'
            or 'data after the JSON value: ' .. show(text, i))
    end
    -- then as schema.c checks: required fields, then each member in
    -- document order; the first problem is the one reported
    if not seen.type then raise('type: missing (required)') end
    if not seen.payload then raise('payload: missing (required)') end
    for m = 1, #members, 4 do
        check_field(members[m], members[m + 1], members[m + 2], members[m + 3])
    end
    if not SLUICE_TYPES[job.type] then
        raise('type: unknown job type "' .. job.type .. '" (known: ' .. SLUICE_TYPE_LIST .. ')')
    end
    if job.queue and job.queue ~= queue then
        raise('queue: "' .. job.queue .. '" differs from the key\'s queue ' .. queue ..
            ' (the key PREFIX:{QUEUE} names the queue)')
    end
    if #job.payload > MAX_PAYLOAD then
        raise(fmt('payload: %d bytes, the limit is %d', #job.payload, MAX_PAYLOAD))
    end
    return job
end

-- ---- ids ------------------------------------------------------------------

-- util.c's sl_id_new: 10 characters of milliseconds then 16 of 80 random
-- bits, Crockford's base 32, so ids sort by creation time. Within one
-- millisecond the random part counts up (its first character stays below
-- 16 so it never wraps): ids from this Redis are unique and in order.
-- Redis seeds Lua's generator the same way at every start, so init() seeds
-- it again from the time of the first call: two Redis servers, or one
-- restarted, do not draw the same sequence.
local DIGITS = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
local last_ms, rnd = -1, {}
local digit = {} -- digit[0..31]: filled by init()
-- the id but its last character: made again only when the time or the
-- random part's first 15 characters change (once in 32 ids at most)
local head = ''

local function new_id(ms)
    if ms <= last_ms then
        local last = rnd[16] + 1
        if last < 32 then
            rnd[16] = last
            return head .. digit[last]
        end
        ms = last_ms
        local k = 16
        while true do
            rnd[k] = rnd[k] + 1
            if rnd[k] < 32 or k == 1 then break end
            rnd[k] = 0
            k = k - 1
        end
    else
        rnd[1] = math.random(0, 15)
        for k = 2, 16 do rnd[k] = math.random(0, 31) end
        last_ms = ms
    end
    local t, m = {}, ms
    for k = 10, 1, -1 do -- the time part
        local d = m % 32
        t[k] = digit[d]
        m = (m - d) / 32
    end
    for k = 1, 15 do t[k + 10] = digit[rnd[k]] end
    head = concat(t)
    return head .. digit[rnd[16]]
end

-- ---- the functions --------------------------------------------------------

-- job.c's sl_job_encode: fixed field order, payload last.
-- The id, type and queue match patterns that leave nothing to escape.
local function encode(job, id, queue, created)
    local t = {'{"id":"', id, '","type":"', job.type, '","queue":"', queue, '","priority":"',
        job.priority or 'normal', '","max_attempts":',
        job.max_attempts and fmt('%d', job.max_attempts) or '8',
        ',"timeout_ms":', job.timeout_ms and fmt('%d', job.timeout_ms) or '30000'}
    if job.run_at_ms and job.run_at_ms ~= 0 then
        t[#t + 1] = ',"run_at_ms":' .. fmt('%d', job.run_at_ms)
    end
    if job.delay_ms and job.delay_ms ~= 0 then
        t[#t + 1] = ',"delay_ms":' .. fmt('%d', job.delay_ms)
    end
    if job.idempotency_key then
        t[#t + 1] = ',"idempotency_key":' .. quote(job.idempotency_key, sl_escape)
    end
    if job.batch then t[#t + 1] = ',"batch":' .. quote(job.batch, sl_escape) end
    t[#t + 1] = ',"created_ms":' .. fmt('%d', created)
    if job.attempts and job.attempts ~= 0 then
        t[#t + 1] = ',"attempts":' .. fmt('%d', job.attempts)
    end
    if job.last_error then t[#t + 1] = ',"last_error":' .. quote(job.last_error, sl_escape) end
    t[#t + 1] = ',"payload":'
    t[#t + 1] = job.payload
    t[#t + 1] = '}'
    return concat(t)
end

-- What the top level could not do (see find's comment); once per load.
local function init()
    find, byte, sub, fmt = string.find, string.byte, string.sub, string.format
    match, gsub, concat = string.match, string.gsub, table.concat
    for d = 0, 31 do digit[d] = sub(DIGITS, d + 1, d + 1) end
    local t = redis.call('TIME')
    math.randomseed((tonumber(t[1]) * 1000003 + tonumber(t[2])) % 2147483647)
    cjson_escape, sl_escape = {['"'] = '\\"', ['\\'] = '\\\\'}, {['"'] = '\\"', ['\\'] = '\\\\'}
    for c = 0, 31 do
        cjson_escape[string.char(c)] = fmt('\\u%04x', c)
        sl_escape[string.char(c)] = fmt('\\u%04x', c)
    end
    for c, e in pairs({['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r',
        ['\t'] = '\\t'}) do
        cjson_escape[c] = e
        if c ~= '\b' and c ~= '\f' then sl_escape[c] = e end
    end
end

local PREFIX_RULE = '^[a-z][a-z0-9_-]*$'

-- The one key, PREFIX:{QUEUE}: its prefix, queue and the queue's base
-- "PREFIX:{QUEUE}:" (FUNC names the function, for the message).
local function queue_key(keys, func, usage)
    if #keys ~= 1 then
        raise('give one key, PREFIX:{QUEUE} (FCALL ' .. func .. ' 1 sluice:{message} ' ..
            usage .. '), got ' .. #keys)
    end
    local prefix, queue = match(keys[1], '^([^{}:]*):{([^{}]*)}$')
    if not prefix or not find(prefix, PREFIX_RULE) or #prefix > 64 or
        not find(queue, PREFIX_RULE) or #queue > 64 then
        raise('key: "' .. keys[1] .. '" is not PREFIX:{QUEUE} (each 1..64 of a-z, 0-9, ' ..
            "'_', '-', starting with a letter; e.g. sluice:{message})")
    end
    return prefix, queue, prefix .. ':{' .. queue .. '}:'
end

local function enqueue(keys, args)
    local prefix, queue, base = queue_key(keys, 'sluice_enqueue', 'ENVELOPE_JSON ...')
    if #args == 0 then raise('no envelope: FCALL sluice_enqueue 1 PREFIX:{QUEUE} ENVELOPE_JSON ...') end
    if #args > MAX_ENVELOPES then
        raise(fmt('%d envelopes in one call, the limit is %d', #args, MAX_ENVELOPES))
    end
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local argv = {base, IDEM_TTL_MS, prefix .. ':scheduler:notify'}
    for n, text in ipairs(args) do
        local ok, job = true, nil
        if #args == 1 then
            job = parse_envelope(text, queue)
        else -- the error names the envelope
            ok, job = pcall(parse_envelope, text, queue)
        end
        if not ok then
            if type(job) == 'table' and job.sluice then
                job.sluice = 'envelope ' .. n .. ': ' .. job.sluice
            end
            error(job, 0)
        end
        local id, flags = job.id, ''
        if id then flags = '!' else id = new_id(now) end
        if job.batch then flags = flags .. '@' .. job.batch end
        local created = job.created_ms
        if not created or created == 0 then created = now end
        argv[#argv + 1] = id
        argv[#argv + 1] = PRIORITY[job.priority or 'normal'] .. flags
        argv[#argv + 1] = encode(job, id, queue, created)
        argv[#argv + 1] = fmt('%d', job.delay_ms or 0)
        argv[#argv + 1] = fmt('%d', job.run_at_ms or 0)
        argv[#argv + 1] = job.idempotency_key or ''
    end
    local out = enqueue_jobs({base .. 'ready:critical', base .. 'ready:high',
        base .. 'ready:normal', base .. 'ready:low', base .. 'delayed', base .. 'stats'}, argv, now)
    redis.call('SADD', prefix .. ':queues', queue)
    for n, v in ipairs(out) do
        if byte(v) == 33 then out[n] = redis.error_reply('ERR sluice: ' .. sub(v, 2)) end
    end
    if #args == 1 then return out[1] end
    return out
end

-- sluice_job: {state, envelope} of job ID of the key's queue, as
-- sluice-ctl show finds them: state is ready, delayed, active, done, dead,
-- cancelled or unknown; the envelope (the job key's JSON: attempts,
-- last_error, and a result once the job has one) or false when gone.
local function job(keys, args)
    local _, _, base = queue_key(keys, 'sluice_job', 'ID')
    local id = args[1]
    if #args ~= 1 or id == '' then raise('give one job id: FCALL_RO sluice_job 1 PREFIX:{QUEUE} ID') end
    local body = redis.call('GET', base .. 'job:' .. id)
    local state = 'unknown'
    for _, set in ipairs({'active', 'delayed', 'done', 'dead'}) do
        if redis.call('ZSCORE', base .. set, id) then
            state = set
            break
        end
    end
    if state == 'unknown' and body then
        for _, p in ipairs({'critical', 'high', 'normal', 'low'}) do
            if redis.call('LPOS', base .. 'ready:' .. p, id) then
                state = 'ready'
                break
            end
        end
    end
    if state == 'dead' and body then
        local ok, doc = pcall(cjson.decode, body)
        if ok and type(doc) == 'table' and type(doc.last_error) == 'string' and
            sub(doc.last_error, 1, 9) == 'cancelled' then
            state = 'cancelled'
        end
    end
    return {state, body or false}
end

-- Runs F, turning what raise() raised into "ERR sluice: ..." replies.
local function guarded(f)
    return function(keys, args)
        if not find then init() end
        local ok, res = pcall(f, keys, args)
        if ok then return res end
        if type(res) == 'table' and res.sluice then
            return redis.error_reply('ERR sluice: ' .. res.sluice)
        end
        error(res, 0) -- Redis's own (OOM, READONLY...): as it came
    end
end

redis.register_function('sluice_enqueue', guarded(enqueue))
redis.register_function{function_name = 'sluice_job', flags = {'no-writes'},
    callback = guarded(job)}
redis.register_function{function_name = 'sluice_version', flags = {'no-writes'},
    callback = function() return SLUICE_VERSION end}
