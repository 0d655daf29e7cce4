-- POST /oauth2/token grant_type=refresh_token: each pre-minted refresh token is used once
-- (rotation makes a second use a replay).
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local next_request = nil

function init(args)
  next_request = bench.pool_requests(function(token)
    return "grant_type=refresh_token&refresh_token=" .. token
  end)
end

-- Defined here, not in init: wrk decides at load time whether requests vary.
function request() return next_request() end

done = bench.done
