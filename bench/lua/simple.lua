-- A fixed request: GET, or POST with a form body.
--   wrk ... -s simple.lua URL -- METHOD [BODY]
-- No response() callback on purpose: parsing every response in Lua would make the load
-- generator, not the server, the bottleneck at 50k+ req/s. wrk counts statuses >= 400 itself
-- (non2xx); run.sh checks each endpoint's exact status with curl before the run.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function init(args)
  wrk.method = args[1] or "GET"
  if args[2] and args[2] ~= "" then
    wrk.body = args[2]
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
end
