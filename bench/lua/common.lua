-- Shared by every bench script (loaded with dofile; wrk accepts one -s script).
-- Assumes one wrk thread (-t1): the load generator is pinned to a single core anyway.
--
-- Gives: file helpers, finish() (stop early and end wrk's clock now), error sampling, and a
-- done() that prints one machine-readable "BENCH key=value ..." line that run.sh parses.

common = {}

-- Counters read by done() through thread:get(); every script may bump them.
bad = 0        -- responses with an unexpected status (sampled into the error log)
consumed = 0   -- single-use inputs (codes, refresh tokens) sent
ran_out = 0    -- 1 when the script ran out of single-use inputs and ended the run early
overflow = 0   -- filler requests sent after running out (should stay 0)

local errlog, err_samples = nil, 0
local finished = false

function common.read_lines(path)
  local t = {}
  local f = io.open(path, "r")
  if not f then return t end
  for line in f:lines() do
    if line ~= "" then t[#t + 1] = line end
  end
  f:close()
  return t
end

function common.open_out(path)
  local f = assert(io.open(path, "a"))
  f:setvbuf("line") -- worker threads get no hook at exit: never leave data in a buffer
  return f
end

function common.set_error_log(path)
  if path and path ~= "" then errlog = common.open_out(path) end
end

-- Counts an unexpected response and keeps the first few for the report.
function common.unexpected(status, headers, body)
  bad = bad + 1
  if errlog and err_samples < 5 then
    err_samples = err_samples + 1
    local loc = headers["location"] or headers["Location"] or ""
    errlog:write(string.format("status=%d location=%s body=%s\n", status, loc,
      (body or ""):sub(1, 400):gsub("\n", " ")))
  end
end

-- Stops this thread and interrupts wrk's main thread (SIGINT makes it stop sleeping), so the
-- reported duration and req/s cover only the time actually spent. io.popen, not os.execute:
-- system() ignores SIGINT in the whole process while it waits.
function common.finish()
  if finished then return end
  finished = true
  wrk.thread:stop()
  local p = io.popen("kill -INT $PPID 2>/dev/null")
  p:close()
end

local all_threads = {}

function setup(thread)
  all_threads[#all_threads + 1] = thread
  thread:set("thread_id", #all_threads)
end

function done(summary, latency, requests)
  local b, c, r, o = 0, 0, 0, 0
  for _, t in ipairs(all_threads) do
    b = b + (t:get("bad") or 0)
    c = c + (t:get("consumed") or 0)
    r = math.max(r, t:get("ran_out") or 0)
    o = o + (t:get("overflow") or 0)
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d " ..
    "connect=%d read=%d write=%d timeout=%d bad=%d consumed=%d ran_out=%d overflow=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect, e.read, e.write, e.timeout, b, c, r, o))
end
