-- One wrk script for every request-rate scenario of the bench.
--
-- Arguments (after `--`): MODE NTHREADS BODY_SIZE SOURCE
--   MODE "lines": SOURCE is a file of `METHOD<TAB>PATH[<TAB>BODY]` lines; thread t of
--                 NTHREADS takes lines t, t+N, t+2N... and rotates through them (so
--                 fresh-key presigned PUT URLs are never shared between threads).
--                 PUT/POST lines without an inline BODY send BODY_SIZE bytes.
--   MODE "fresh": SOURCE is a path prefix; every request is `POST prefix<tid>-<n>`
--                 with BODY_SIZE bytes, a key never used before.
-- done() prints one line `BENCH_JSON {...}` with the summary and latency percentiles.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   mode = args[1]
   local nthreads = tonumber(args[2])
   local size = tonumber(args[3])
   source = args[4]
   body = string.rep("x", size)
   wraps = 0
   counter = 0
   reqs = {}
   if mode == "lines" then
      local i = 0
      for line in io.lines(source) do
         if i % nthreads == tid then
            local method, path, inline = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
            local payload = nil
            if inline ~= nil and inline ~= "" then
               payload = inline
            elseif method == "PUT" or method == "POST" then
               payload = body
            end
            table.insert(reqs, wrk.format(method, path, nil, payload))
         end
         i = i + 1
      end
      if #reqs == 0 then
         table.insert(reqs, wrk.format("GET", "/", nil, nil))
      end
   end
end

function request()
   if mode == "fresh" then
      counter = counter + 1
      return wrk.format("POST", source .. tid .. "-" .. counter, nil, body)
   end
   counter = counter + 1
   if counter > #reqs then
      counter = 1
      wraps = wraps + 1
   end
   return reqs[counter]
end

function done(summary, latency, requests)
   local total_wraps = 0
   for _, thread in ipairs(threads) do
      total_wraps = total_wraps + (thread:get("wraps") or 0)
   end
   local e = summary.errors
   local out = string.format(
      '{"duration_us": %d, "requests": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
      '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
      '"p999_us": %d, "max_us": %d, "mean_us": %.1f, "wraps": %d}',
      summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean, total_wraps)
   io.write("BENCH_JSON " .. out .. "\n")
end
