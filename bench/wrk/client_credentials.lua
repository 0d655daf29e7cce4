-- POST /oauth2/token grant_type=client_credentials, the same request every time.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local scope = bench.env("BENCH_SCOPE", "api")

function init(args)
  prepared = bench.form_post(bench.env("BENCH_PATH", "/oauth2/token"),
    "grant_type=client_credentials&scope=" .. scope)
end

function request() return prepared end

done = bench.done
