-- POST /oauth2/introspect for one active access token, the same request every time.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function init(args)
  prepared = bench.form_post(bench.env("BENCH_PATH", "/oauth2/introspect"),
    "token=" .. bench.env("BENCH_TOKEN") .. "&token_type_hint=access_token")
end

function request() return prepared end

done = bench.done
