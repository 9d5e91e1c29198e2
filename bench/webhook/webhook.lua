-- wrk script: POSTs signed workflow_job webhooks, cycling through pre-signed bodies (one job id
-- each, so writes do not queue on one row) with a new X-GitHub-Delivery per request.
--   wrk ... -s bench/webhook/webhook.lua URL -- PATH DATA.lua
-- DATA.lua (written by bench/webhook/gen.py) returns { bodies = {...}, sigs = {...} }.
local path, data
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  data = dofile(args[2])
end

function request()
  counter = counter + 1
  local i = (counter % #data.bodies) + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "workflow_job",
    ["X-GitHub-Delivery"] = string.format("bench-%d-%d-%d", tid, counter, os.time()),
    ["X-Hub-Signature-256"] = data.sigs[i],
  }
  return wrk.format("POST", path, headers, data.bodies[i])
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%.3f rps=%.1f non2xx=%d errors=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
