-- Shared by the wrk scripts of bench/run.py: settings from the environment, pools, results.
local M = {}

function M.env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then error("bench: environment variable " .. name .. " is not set") end
    return default
  end
  return value
end

-- The form POST every OAuth script sends: client authentication in HTTP Basic.
function M.form_post(path, body)
  return wrk.format("POST", path, {
    ["Authorization"] = "Basic " .. M.env("BENCH_BASIC"),
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end

-- A pool of single-use values (refresh tokens, codes), one per line. Each request uses the
-- next one; once the pool is spent the thread stops sending rather than replaying (the
-- few requests already under way repeat the last value and fail), and bench/run.py marks
-- the run: its rate is then an understatement.
function M.pool_requests(make_body)
  local path = M.env("BENCH_PATH", "/oauth2/token")
  local requests = {}
  for line in io.lines(M.env("BENCH_POOL")) do
    if #line > 0 then requests[#requests + 1] = M.form_post(path, make_body(line)) end
  end
  if #requests == 0 then error("bench: the pool is empty") end
  local index = 0
  return function()
    if index < #requests then
      index = index + 1
    else
      wrk.thread:stop()
    end
    return requests[index]
  end
end

-- One machine-readable line for bench/run.py (latencies in microseconds).
function M.done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, errors.status,
    errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end

return M
