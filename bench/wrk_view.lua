-- wrk script of the cdp benchmark: POST a GraphQL body with a random customer id.
--
-- Usage: wrk ... -s bench/wrk_view.lua URL -- IDS_FILE BODY_TEMPLATE_FILE
--   IDS_FILE            one customer id per line (ignored when the template has no placeholder)
--   BODY_TEMPLATE_FILE  the JSON body; __CUSTOMER_ID__ is replaced by a random id per request
-- Counts non-200 responses and 200 responses whose body carries GraphQL "errors",
-- and prints one line "BENCH_JSON {...}" with the figures (latencies in microseconds),
-- then, if there was an error, "BENCH_ERROR <status> <first 2000 bytes of one failing body>".

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

local function read_file(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("*a")
  f:close()
  return text
end

local prefix, suffix, ids, n_ids
local headers = { ["Content-Type"] = "application/json" }
local api_key = os.getenv("CDP_API_KEY")  -- set by bench/server.py: every request needs a credential
if api_key then headers["Authorization"] = "Bearer " .. api_key end

function init(args)
  non200 = 0
  graphql_errors = 0
  responses = 0
  local template = read_file(args[2]):gsub("%s+$", "")
  local s, e = template:find("__CUSTOMER_ID__", 1, true)
  if s then
    prefix = template:sub(1, s - 1)
    suffix = template:sub(e + 1)
    ids = {}
    for line in io.lines(args[1]) do
      if #line > 0 then ids[#ids + 1] = line end
    end
    n_ids = #ids
  else
    prefix = template
  end
  math.randomseed(os.time() * 100 + (thread_id or 0))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body
  if ids then
    body = prefix .. ids[math.random(n_ids)] .. suffix
  else
    body = prefix
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  responses = responses + 1
  if status ~= 200 then
    non200 = non200 + 1
  elseif body and body:find('"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
  else
    return
  end
  if not first_error then
    first_error = tostring(status) .. " " .. (body or ""):sub(1, 2000):gsub("[\r\n]", " ")
  end
end

function done(summary, latency, requests)
  local bad, gql, seen = 0, 0, 0
  local sample = nil
  for _, thread in ipairs(threads) do
    sample = sample or thread:get("first_error")
    bad = bad + (thread:get("non200") or 0)
    gql = gql + (thread:get("graphql_errors") or 0)
    seen = seen + (thread:get("responses") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"responses":%d,"duration_us":%d,"bytes":%d,' ..
    '"non200":%d,"graphql_errors":%d,' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, seen, summary.duration, summary.bytes, bad, gql,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
  if sample then
    io.write("BENCH_ERROR " .. sample .. "\n")
  end
end
