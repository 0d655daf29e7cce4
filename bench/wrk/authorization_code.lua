-- POST /oauth2/token grant_type=authorization_code: each pre-minted code is exchanged once.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local redirect_uri = bench.env("BENCH_REDIRECT_URI_ENCODED")

local next_request = nil

function init(args)
  next_request = bench.pool_requests(function(code)
    return "grant_type=authorization_code&code=" .. code .. "&redirect_uri=" .. redirect_uri
  end)
end

-- Defined here, not in init: wrk decides at load time whether requests vary.
function request() return next_request() end

done = bench.done
