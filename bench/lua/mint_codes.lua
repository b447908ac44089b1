-- Mints authorization codes: GET /authorize with the SSO session cookie (passed with -H) on a
-- skip-consent client answers 302 with a fresh code; each code is appended to OUT.
--   wrk ... -s mint_codes.lua "URL/authorize?..." -- LIMIT OUT ERRLOG
-- Ends the run as soon as LIMIT codes were written.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local out, limit, n

function init(args)
  limit = tonumber(args[1])
  out = common.open_out(args[2])
  common.set_error_log(args[3])
  n = 0
end

function response(status, headers, body)
  local loc = headers["location"] or headers["Location"]
  local code = status == 302 and loc and loc:match("[?&]code=([^&]+)")
  if code then
    out:write(code, "\n")
    n = n + 1
    consumed = n
  else
    common.unexpected(status, headers, body)
    if bad >= 1000 then common.finish() end -- broken minting must not spin for -d
  end
  if n >= limit then common.finish() end
end
