-- bench/ingest.py's load: wrk sends pre-signed POST /model_run requests, each for a model run
-- of its own. Arguments (after `--`): a file of "<X-Hub-Signature> <body>" lines and the
-- number of wrk threads; thread i sends lines i, i + threads, ... in order. At the end one
-- line "RESULT {json}" reports requests, duration, latency percentiles, answers by status,
-- socket errors and how often a thread ran out of lines and started over (a repeat is a 200
-- that appends nothing, not the path measured: bench/ingest.py then says so).

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local path, count = args[1], tonumber(args[2])
   requests, statuses, wrapped, index = {}, {}, 0, 0
   local n = 0
   for line in io.lines(path) do
      if n % count == id then
         local signature, body = line:match("^(%S+) (.*)$")
         requests[#requests + 1] = wrk.format("POST", "/model_run", {
            ["Content-Type"] = "application/json",
            ["X-Hub-Signature"] = signature,
         }, body)
      end
      n = n + 1
   end
end

function request()
   index = index + 1
   if index > #requests then
      index, wrapped = 1, wrapped + 1
   end
   return requests[index]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local by_status, wraps = {}, 0
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         by_status[status] = (by_status[status] or 0) + count
      end
      wraps = wraps + thread:get("wrapped")
   end
   local answers = {}
   for status, count in pairs(by_status) do
      answers[#answers + 1] = string.format('"%d": %d', status, count)
   end
   local errors = summary.errors
   io.write(string.format(
      'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
         .. '"p99_us": %d, "max_us": %d, "answers": {%s}, "socket_errors": %d, "wrapped": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, table.concat(answers, ", "),
      errors.connect + errors.read + errors.write + errors.timeout, wraps))
end
