-- wrk script: POST a different JSON body on every request, cycling through the pool in
-- $BODIES (one body per line, written by mlflow_bench.py prepare). Each wrk thread starts at
-- its own place in the pool, so concurrent connections do not send the same rows in step.
-- The requests are formatted once per thread (init), so the Lua cost per request is a table
-- lookup. done() prints one machine-readable line (BENCH ...) that mlflow_serve.sh parses.

local function load_bodies()
  local path = os.getenv("BODIES")
  assert(path, "BODIES must name the file of request bodies (one JSON body per line)")
  local list = {}
  for line in io.lines(path) do
    if #line > 0 then
      list[#list + 1] = line
    end
  end
  assert(#list > 0, "no request bodies in " .. path)
  return list
end

local bodies = load_bodies()
local requests = {}
local next_index = 1
local threads_started = 0

function setup(thread)
  thread:set("thread_number", threads_started)
  threads_started = threads_started + 1
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format(nil, nil, nil, body)
  end
  -- thread_number is set by setup() in this thread's Lua state before init runs.
  next_index = ((thread_number or 0) * 7919) % #requests + 1
end

function request()
  local req = requests[next_index]
  next_index = next_index % #requests + 1
  return req
end

function done(summary, latency, _)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f rps=%.2f p50_us=%d p99_us=%d status_errors=%d socket_errors=%d bodies=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, #bodies))
end
