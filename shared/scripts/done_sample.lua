-- done_sample: read-only; the latency of the most recent done jobs of one
-- queue, for `sluice-ctl top` and `sluice-ctl web` when no archive is
-- given. A done envelope carries when it was created and when it was due
-- (delay_ms, run_at_ms), and its score in done is when it finished: so the
-- figure is due -> finished, the wait and the run together.
-- KEYS: done
-- ARGV: base ("P:{Q}:"), how many (newest first)
-- Returns a flat list of ms: due -> finished of each sampled job whose
-- body is still there and says when it was created.
local z = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #z, 2 do
    local body = redis.call('GET', ARGV[1] .. 'job:' .. z[i])
    if body then
        local ok, doc = pcall(cjson.decode, body)
        if ok and type(doc) == 'table' and tonumber(doc.created_ms) then
            local due = tonumber(doc.created_ms) + (tonumber(doc.delay_ms) or 0)
            local at = tonumber(doc.run_at_ms) or 0
            if at > due then due = at end
            local ms = tonumber(z[i + 1]) - due
            if ms < 0 then ms = 0 end
            out[#out + 1] = math.floor(ms)
        end
    end
end
return out
