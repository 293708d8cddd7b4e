-- wrk script for scripts/bench/http-load.sh. What each request is comes from the environment:
--   BENCH_MODE     healthz | sim | first | repeat | checkin
--   BENCH_THREADS  wrk's -t (code indices are dealt round-robin to threads)
--   BENCH_CODES    codes 0..N-1 exist in the simulator; first activates each once at most
--   BENCH_POOL     repeat/checkin cycle over codes 0..POOL-1 (already activated)
--   BENCH_PREFIX   code prefix
--   BENCH_AUTH, BENCH_SDK_DATE, BENCH_HOST, BENCH_SIM_PATH, BENCH_SIM_BODY: the signed call (sim)
-- done() prints one line "RESULT key=value ..." for the shell script to parse.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local mode, nthreads, codes, pool, prefix
local json = { ["Content-Type"] = "application/json" }
local signed

function init(args)
  mode = os.getenv("BENCH_MODE") or "healthz"
  nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  codes = tonumber(os.getenv("BENCH_CODES") or "0")
  pool = tonumber(os.getenv("BENCH_POOL") or "1")
  prefix = os.getenv("BENCH_PREFIX") or "BENCH"
  signed = {
    ["Content-Type"] = "application/json",
    ["Host"] = os.getenv("BENCH_HOST"),
    ["X-Sdk-Date"] = os.getenv("BENCH_SDK_DATE"),
    ["Authorization"] = os.getenv("BENCH_AUTH"),
  }
  -- Globals, read by done() through thread:get.
  ok, bad, filler, quota, last_bad = 0, 0, 0, 0, ""
  nexti = id - 1
  for i = id - 1, codes - 1, nthreads do quota = quota + 1 end
end

local function fingerprint(i)
  return string.format("02:42:AC:11:%02X:%02X|BENCH-DISK-%07d|BENCH-BOARD|BENCH-CPU", math.floor(i / 256) % 256, i % 256, i)
end

-- The next code index of this thread for first activations; nil when its codes are used up.
local function take()
  local i = nexti
  if i >= codes then return nil end
  nexti = nexti + nthreads
  return i
end

local function cycle()
  local i = nexti % pool
  nexti = nexti + nthreads
  return i
end

function request()
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  elseif mode == "sim" then
    return wrk.format("POST", os.getenv("BENCH_SIM_PATH"), signed, os.getenv("BENCH_SIM_BODY"))
  elseif mode == "first" then
    local i = take()
    -- Used up (raise BENCH_CODES): keep the connection busy with something we can tell apart.
    if not i then filler = filler + 1; return wrk.format("GET", "/healthz") end
    local body = string.format('{"code":"%s%d","fingerprint":"%s","hostname":"bench-%d"}', prefix, i, fingerprint(i), i)
    return wrk.format("POST", "/v1/activate", json, body)
  elseif mode == "repeat" then
    local i = cycle()
    local body = string.format('{"code":"%s%d","fingerprint":"%s","hostname":"bench-%d"}', prefix, i, fingerprint(i), i)
    return wrk.format("POST", "/v1/activate", json, body)
  else -- checkin
    local i = cycle()
    local body = string.format('{"code":"%s%d","fingerprint":"%s"}', prefix, i, fingerprint(i))
    return wrk.format("POST", "/v1/check-in", json, body)
  end
end

function response(status, headers, body)
  local good
  if mode == "first" then
    if status == 200 then return end -- a filler's answer: a new binding is 201
    good = (status == 201)
  elseif mode == "sim" then
    good = status == 200 and body:find('"92020000"', 1, true) ~= nil
  elseif mode == "checkin" then
    good = status == 200 and body:find('"valid":true', 1, true) ~= nil
  else
    good = (status == 200)
  end
  if good then ok = ok + 1 else bad = bad + 1; last_bad = status .. " " .. body:sub(1, 160) end
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
  io.write(string.format(
    "RESULT requests=%d ok=%d bad=%d filler=%d socket_errors=%d secs=%.3f okps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    summary.requests, ok_n, bad_n, filler_n, e.connect + e.read + e.write + e.timeout, secs, ok_n / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  if last ~= "" then io.write("LASTBAD " .. last:gsub("\n", " ") .. "\n") end
end
