-- wrk script for a plain GET (Slipway's trivial route, GET /healthz); prints the same RESULT line as
-- shared/peers/lua/post_json.lua so every run is parsed the same way.
-- usage: wrk -t1 -c2 -d15s --latency -s get.lua http://127.0.0.1:18080/healthz
wrk.method = "GET"

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT {\"requests\":%d,\"secs\":%.2f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"errors_status\":%d,\"errors_other\":%d}\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
