-- wrk script for scripts/bench/http-load.sh. What each request is comes from the environment:
--   BENCH_MODE     healthz | sim | first | repeat | checkin
--   BENCH_THREADS  wrk's -t (code indices are dealt round-robin to threads)
--   BENCH_CODES    codes 0..N-1 exist in the simulator; first activates each once at most
--   BENCH_FIRST_FROM, BENCH_FIRST_TO  the codes first activates, [FROM, TO) (0, BENCH_CODES):
--                  two wrk against two nodes take disjoint ranges
--   BENCH_POOL     repeat/checkin cycle over codes 0..POOL-1 (already activated)
--   BENCH_PREFIX   code prefix
--   BENCH_AUTH, BENCH_SDK_DATE, BENCH_HOST, BENCH_SIM_PATH, BENCH_SIM_BODY: the signed call (sim)
-- done() prints one line "RESULT key=value ...". First activations check every answer (201);
-- the other modes send requests built in advance and leave answers to wrk itself (a non-2xx/3xx
-- status counts as bad), so the load generator spends as little CPU as it can on this 2-core
-- machine; the shell script checks a sample of their answers with curl.
-- wrk calls request() once before the run to check it (so one first-activation code is never
-- sent: the script's warm-up activates it).

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local mode, nthreads, codes, pool, prefix, first_to
local json = { ["Content-Type"] = "application/json" }
local signed
local prepared, turn = {}, 0

function init(args)
  mode = os.getenv("BENCH_MODE") or "healthz"
  nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  codes = tonumber(os.getenv("BENCH_CODES") or "0")
  first_to = tonumber(os.getenv("BENCH_FIRST_TO") or tostring(codes))
  pool = tonumber(os.getenv("BENCH_POOL") or "1")
  prefix = os.getenv("BENCH_PREFIX") or "BENCH"
  signed = {
    ["Content-Type"] = "application/json",
    ["Host"] = os.getenv("BENCH_HOST"),
    ["X-Sdk-Date"] = os.getenv("BENCH_SDK_DATE"),
    ["Authorization"] = os.getenv("BENCH_AUTH"),
  }
  -- Globals, read by done() through thread:get.
  ok, bad, filler, last_bad = 0, 0, 0, ""
  nexti = tonumber(os.getenv("BENCH_FIRST_FROM") or "0") + id - 1
  if mode ~= "first" then
    -- No per-answer Lua (wrk checks this once, after thread 1's init).
    response = nil
    prepare()
  end
end

local function fingerprint(i)
  return string.format("02:42:AC:11:%02X:%02X|BENCH-DISK-%07d|BENCH-BOARD|BENCH-CPU", math.floor(i / 256) % 256, i % 256, i)
end

-- The next code index of this thread for first activations; nil when its codes are used up.
local function take()
  local i = nexti
  if i >= first_to then return nil end
  nexti = nexti + nthreads
  return i
end

-- Builds this thread's requests of the modes that repeat them.
function prepare()
  if mode == "healthz" then
    prepared[1] = wrk.format("GET", "/healthz")
  elseif mode == "sim" then
    prepared[1] = wrk.format("POST", os.getenv("BENCH_SIM_PATH"), signed, os.getenv("BENCH_SIM_BODY"))
  else
    -- repeat and checkin: this thread's share of codes 0..POOL-1, already activated.
    for i = id - 1, pool - 1, nthreads do
      local body, path
      if mode == "repeat" then
        body = string.format('{"code":"%s%d","fingerprint":"%s","hostname":"bench-%d"}', prefix, i, fingerprint(i), i)
        path = "/v1/activate"
      else
        body = string.format('{"code":"%s%d","fingerprint":"%s"}', prefix, i, fingerprint(i))
        path = "/v1/check-in"
      end
      prepared[#prepared + 1] = wrk.format("POST", path, json, body)
    end
  end
end

function request()
  if mode == "first" then
    local i = take()
    -- Used up (raise BENCH_CODES): keep the connection busy with something we can tell apart.
    if not i then filler = filler + 1; return wrk.format("GET", "/healthz") end
    local body = string.format('{"code":"%s%d","fingerprint":"%s","hostname":"bench-%d"}', prefix, i, fingerprint(i), i)
    return wrk.format("POST", "/v1/activate", json, body)
  end
  turn = turn % #prepared + 1
  return prepared[turn]
end

-- First activations only (see init).
function response(status, headers, body)
  if status == 200 then return end -- a filler's answer: a new binding is 201
  if status == 201 then ok = ok + 1 else bad = bad + 1; last_bad = status .. " " .. body:sub(1, 160) end
end

function done(summary, latency, requests)
  local ok_n, bad_n, filler_n, last = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    ok_n = ok_n + t:get("ok")
    bad_n = bad_n + t:get("bad")
    filler_n = filler_n + t:get("filler")
    if t:get("last_bad") ~= "" then last = t:get("last_bad") end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  if ok_n + bad_n == 0 then
    -- Answers were not looked at one by one: wrk counts statuses above 399.
    bad_n = e.status
    ok_n = summary.requests - e.status - e.timeout
  end
  io.write(string.format(
    "RESULT requests=%d ok=%d bad=%d filler=%d socket_errors=%d secs=%.3f okps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    summary.requests, ok_n, bad_n, filler_n, e.connect + e.read + e.write + e.timeout, secs, ok_n / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  if last ~= "" then io.write("LASTBAD " .. last:gsub("\n", " ") .. "\n") end
end
