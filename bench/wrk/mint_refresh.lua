-- Not measured: fills a pool file with the refresh tokens of client_credentials responses
-- (for the memory store, whose tokens live only inside the server process). Stops once
-- BENCH_COUNT tokens are written.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local wanted = tonumber(bench.env("BENCH_COUNT"))
local written = 0
local out = nil

function init(args)
  out = io.open(bench.env("BENCH_POOL"), "w")
  prepared = bench.form_post("/oauth2/token",
    "grant_type=client_credentials&scope=" .. bench.env("BENCH_SCOPE", "api"))
end

function request() return prepared end

function response(status, headers, body)
  local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if token ~= nil and written < wanted then
    out:write(token, "\n")
    written = written + 1
    if written >= wanted then
      out:close()
      wrk.thread:stop()
    end
  end
end

done = bench.done
