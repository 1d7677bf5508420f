-- Shared by the bench's wrk scripts: count answers, tell the caller when `limit` have come
-- back (wrk itself only stops at --duration; the caller ends it with SIGINT), and print
-- the summary as one JSON line that bench/load.py parses.

local limit, answered = math.huge, 0

function stop_after(count)
  limit = count
end

function response(status, headers, body)
  answered = answered + 1
  if answered == limit then
    -- wrk itself only stops at --duration: tell the caller, who ends it with SIGINT.
    io.stderr:write("limit reached\n")
    io.stderr:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean, latency.max))
end
