-- POST /token with single-use inputs, each sent exactly once:
--   code:    grant_type=authorization_code&code=C&redirect_uri=R   (R from args)
--   refresh: grant_type=refresh_token&refresh_token=T
-- Client authentication (Basic) comes from -H. Every 200 response's refresh_token is appended
-- to OUT (code exchange feeds the refresh benchmark; refresh feeds later refresh runs).
--   wrk ... -s single_use.lua URL/token -- code|refresh INPUT OUT ERRLOG MARGIN [REDIRECT_URI]
-- The run ends early (ran_out=1) when fewer than MARGIN (= connections) inputs are left, so no
-- input is ever sent twice (a replayed code or rotated refresh token revokes its grant).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local kind, inputs, out, margin, prefix
local i = 0

function init(args)
  kind = args[1]
  inputs = common.read_lines(args[2])
  out = common.open_out(args[3])
  common.set_error_log(args[4])
  margin = tonumber(args[5]) or 64
  if kind == "code" then
    prefix = "grant_type=authorization_code&redirect_uri=" .. args[6] .. "&code="
  else
    prefix = "grant_type=refresh_token&refresh_token="
  end
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  if #inputs <= margin then ran_out = 1 end
end

function request()
  i = i + 1
  local v = inputs[i]
  if not v then
    -- Only reachable if MARGIN was too small; a harmless request rather than a replay.
    overflow = overflow + 1
    return wrk.format("GET", "/healthz")
  end
  consumed = i
  return wrk.format("POST", nil, nil, prefix .. v)
end

function response(status, headers, body)
  if status == 200 then
    local rt = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if rt then out:write(rt, "\n") end
  else
    common.unexpected(status, headers, body)
  end
  if i >= #inputs - margin then
    ran_out = 1
    common.finish()
  end
end
