-- wrk script for bench/web_load.py: rotate over logged-in page requests, count non-2xx answers, and print
-- one machine-readable summary line (wrk's own summary counts only 4xx/5xx, so a redirect to the login
-- page would pass unnoticed).
--
--   wrk -c 20 -t 2 -d 30s --latency -s bench/web_load.lua http://127.0.0.1:PORT -- REQUESTS_FILE
--
-- REQUESTS_FILE holds one request a line: `<cookie header value>\t<path>[\t<name>: <value>|<name>: <value>]`,
-- the optional headers being those of an HTMX request (HX-Request, HX-Target). Every request also says
-- X-Forwarded-Proto: https, as the TLS proxy in front of gunicorn does in production.

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local lines = {}
  for line in io.lines(args[1]) do
    local cookie, path, extra = line:match("^([^\t]*)\t([^\t]+)\t?(.*)$")
    if path then
      local headers = {["Cookie"] = cookie, ["X-Forwarded-Proto"] = "https", ["Accept"] = "text/html"}
      for name, value in extra:gmatch("([^|:]+): ([^|]*)") do
        headers[name] = value
      end
      table.insert(lines, wrk.format("GET", path, headers))
    end
  end
  requests_ = lines
  -- Threads start at different places in the list, so the pages are mixed at every moment.
  position = (id * 7919) % #lines
  non2xx = 0
  statuses = ""
end

function request()
  position = position % #requests_ + 1
  return requests_[position]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if #statuses < 200 then statuses = statuses .. status .. " " end
  end
end

function done(summary, latency, requests)
  local non2xx_total, seen = 0, ""
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
    seen = seen .. thread:get("statuses")
  end
  local e = summary.errors
  io.write(string.format(
    "WEB_LOAD_RESULT requests=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d status=%d timeout=%d non2xx=%d statuses=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    non2xx_total, seen:gsub(" ", ",")))
end
