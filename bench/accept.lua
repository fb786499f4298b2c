-- wrk's load for bench/wrk_load.py (bench/accept.py, bench/delivery_throughput.py): a POST of a
-- reminder to the URL's path per request, each with its own recipient and
-- Idempotency-Key (the run's tag, wrk's thread number and a per-thread counter), so that no
-- request is a replay and no recipient repeats. Settings come from the environment, which both
-- wrk's main Lua state and its threads' states can read:
--   WRK_TAG   unique per run (rows of earlier runs never collide)
--   WRK_KEY   the sender API key (the bare app ignores it)
--   WRK_IDS   a file that receives the id of every 202, one per line, for the row check
--   WRK_LIMIT (optional) answers per thread, for a number of messages rather than a duration:
--             once a thread has that many, it creates WRK_IDS .. ".done-" .. its number and
--             stops, and the bench interrupts wrk once every thread has. POSTs then still in
--             flight on the thread's other connections may be accepted unanswered, so the bench
--             counts the messages in PostgreSQL rather than the answers. (Counting requests
--             sent would not do: wrk calls request() again, dropping the first, when a socket
--             write would block.)
-- done() prints one line, "wrk-result {json}", with the counts and latency percentiles (µs).

local threads = {}

function setup(thread)
   threads[#threads + 1] = thread
   thread:set("number", #threads)
end

function init(args)
   tag = os.getenv("WRK_TAG") .. "-" .. number
   headers = {
      ["Authorization"] = "Bearer " .. os.getenv("WRK_KEY"),
      ["Content-Type"] = "application/json",
   }
   limit = tonumber(os.getenv("WRK_LIMIT") or "0")
   sent = 0
   answered = 0
   ids = {}
   statuses = {}
end

function request()
   sent = sent + 1
   local unique = tag .. "-" .. sent
   headers["Idempotency-Key"] = unique
   local body = '{"to": "p' .. unique .. '@example.org", "purpose": "treatment", '
      .. '"subject": "Upcoming Appointment Reminder", '
      .. '"content": "Dr. Rivera, Tue 10:30, visit ' .. unique .. '. Bring your medication list."}'
   return wrk.format("POST", nil, headers, body) -- nil: the path of wrk's URL argument
end

function response(status, _, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status == 202 then
      ids[#ids + 1] = string.match(body, '"id":%s*"([%x%-]+)"')
   end
   answered = answered + 1
   if answered == limit then
      assert(io.open(os.getenv("WRK_IDS") .. ".done-" .. number, "w")):close()
      wrk.thread:stop()
   end
end

function done(summary, latency, _)
   local out = assert(io.open(os.getenv("WRK_IDS"), "w"))
   local by_status = {}
   for _, thread in ipairs(threads) do
      for _, id in ipairs(thread:get("ids")) do
         out:write(id, "\n")
      end
      for status, n in pairs(thread:get("statuses")) do
         by_status[status] = (by_status[status] or 0) + n
      end
   end
   out:close()
   local counts = {}
   for status, n in pairs(by_status) do
      counts[#counts + 1] = string.format('"%d": %d', status, n)
   end
   local e = summary.errors
   print(string.format(
      'wrk-result {"requests": %d, "duration_us": %d, "statuses": {%s}, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
         .. '"p50_us": %d, "p99_us": %d, "max_us": %d}',
      summary.requests, summary.duration, table.concat(counts, ", "),
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end
