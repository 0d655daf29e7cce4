-- GET BENCH_PATH, with a bearer token when BENCH_TOKEN is set (through the gateway) and
-- without one when it is not (the upstream called directly).
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function init(args)
  local headers = {}
  local token = os.getenv("BENCH_TOKEN")
  if token ~= nil and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  prepared = wrk.format("GET", bench.env("BENCH_PATH"), headers)
end

function request() return prepared end

done = bench.done
