-- post.lua — wrk script for the intake bench (tools/bench_intake.sh):
-- POST /v1/jobs with the body in WRK_BODY (a file), the token in
-- WRK_TOKEN; WRK_JOBS jobs per body; WRK_DELAY_MS of think time per
-- request per connection (a steady rate below saturation). Prints one
-- JSON line at the end: requests, jobs/s, latency percentiles, non-2xx.
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
local jobs = tonumber(os.getenv("WRK_JOBS") or "1")
local think = tonumber(os.getenv("WRK_DELAY_MS") or "0")

if think > 0 then
    function delay()
        return think
    end
end

function done(summary, latency, requests)
    local s = summary.duration / 1e6
    local bad = summary.errors.status + summary.errors.connect + summary.errors.read +
        summary.errors.write + summary.errors.timeout
    io.write(string.format(
        '{"requests":%d,"seconds":%.2f,"posts_per_s":%.0f,"jobs_per_s":%.0f,' ..
        '"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"errors":%d}\n',
        summary.requests, s, summary.requests / s, summary.requests * jobs / s,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, bad))
end
