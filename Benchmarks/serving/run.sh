#!/usr/bin/env bash
# Serving benchmark: Slipway against Seldon MLServer on the same models and the same one-row request.
#
# Needs: shared/peers/setup.sh run once (MLServer 1.7 venv, the reference models and request bodies in
#   $PEERS_WORK, default ~/.cache/slipway-peers; wrk), Swift 6.1+, curl, jq. Ports 18080 (Slipway) and
#   18090-18092 (MLServer http/grpc/metrics) free on 127.0.0.1.
# Does: builds `slipway` in release into its own scratch dir (.build-release-serving; skipped with BUILD=0),
#   starts MLServer (in-process inference, OMP_NUM_THREADS=1) on the peers' logistic regression,
#   100-tree XGBoost and 100-tree LightGBM models, and a fresh Slipway (its home under $WORK, wiped each run)
#   serving the same files: the logistic regression as the peers' ONNX export, XGBoost as its JSON, LightGBM
#   as its text model. Through Slipway's HTTP API it creates team `bench`, a developer service account and
#   its key, the three models and versions, allows them in production and deploys each at
#   /v2/models/{logreg,xgb,lgbm}/infer. It checks that both servers give the same P(y=1) for the request
#   row, then runs wrk (1 thread, DUR s after a 3 s warm-up) for each model x {2, 32} connections: MLServer,
#   then Slipway, then Slipway's GET /healthz (the framework's ceiling here), so each ratio comes from adjacent
#   runs; REPEAT times over. With ROUTER=1 (default) each model also runs through the router instead of the
#   inference fast path (the same request with ?environment=production, which the fast path hands over), after
#   the /healthz run, for a second table: the fast path's gain and the router path's own figures. It prints req/s, p50 and p99 side by side with the ratios (medians over the
#   repetitions), and stops both servers on exit (also on Ctrl-C).
# Writes to $WORK (default /tmp/slipway-serving-bench): results.jsonl (one JSON line per wrk run, tagged
#   with the run id), wrk_RUN_*.txt (raw wrk output), table_RUN.md, slipway.log, mlserver.log.
# Takes: about 7 minutes per repetition with DUR=15 (18 runs, 24 with ROUTER=1 of 3 + 15 s, each after waiting up to QUIET_WAIT s
#   for the machine to calm down), plus the first release build (15+ minutes on 2 cores).
# Knobs (environment): DUR=15  CONNS="2 32"  MODELS="logreg xgb lgbm"  REPEAT=1  LOG_LEVEL=info (Slipway's
#   --log-level; at info, successful predictions and health checks are not logged)  QUIET_WAIT=20  BUILD=1  WORK  PEERS_WORK
#   ROUTER=1  SLIPWAY_PORT=18080  MLSERVER_PORT=18090  MLSERVER_OMP_THREADS=1  TOL=1e-5 (largest accepted |P_slipway - P_mlserver|)
# Usage: Benchmarks/serving/run.sh            (from anywhere)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PEERS_WORK=${PEERS_WORK:-$HOME/.cache/slipway-peers}
WORK=${WORK:-/tmp/slipway-serving-bench}
DUR=${DUR:-15}
CONNS=${CONNS:-"2 32"}
MODELS=${MODELS:-"logreg xgb lgbm"}
REPEAT=${REPEAT:-1}
ROUTER=${ROUTER:-1}
LOG_LEVEL=${LOG_LEVEL:-info}
QUIET_WAIT=${QUIET_WAIT:-20}
BUILD=${BUILD:-1}
TOL=${TOL:-1e-5}
SLIPWAY_PORT=${SLIPWAY_PORT:-18080}
MLSERVER_PORT=${MLSERVER_PORT:-18090}
# XGBoost and LightGBM spin OpenMP threads per one-row call: pinned to 1 (as shared/peers advises) MLServer is as
# fast and leaves the other core to the rest of the machine.
MLSERVER_OMP_THREADS=${MLSERVER_OMP_THREADS:-1}
SCRATCH=${SCRATCH:-$repo/.build-release-serving}
SLIPWAY=http://127.0.0.1:$SLIPWAY_PORT
MLSERVER=http://127.0.0.1:$MLSERVER_PORT
RUN=$(date -u +%Y%m%dT%H%M%SZ)
BENCH="python3 $here/bench.py"

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "== $*"; }

# MLServer's model name for each of our model names, Slipway's artifact and format, MLServer's request body.
mlserver_name() { case $1 in logreg) echo sklearn-logreg;; *) echo "$1";; esac; }
artifact() {
  case $1 in
    logreg) echo "$PEERS_WORK/models/onnx/logreg.onnx onnx";;
    xgb) echo "$PEERS_WORK/models/mlserver/xgb/model.json xgboost_json";;
    lgbm) echo "$PEERS_WORK/models/mlserver/lgbm/model.bst lightgbm_text";;
    *) die "unknown model $1";;
  esac
}
mlserver_body() {
  case $1 in logreg) echo "$PEERS_WORK/requests/v2_single_row_proba.json";; *) echo "$PEERS_WORK/requests/v2_single_row.json";; esac
}

# --- prerequisites -------------------------------------------------------------------------------------
command -v wrk >/dev/null || die "wrk not found: run shared/peers/setup.sh"
command -v jq >/dev/null || die "jq not found (apt-get install jq)"
[ -x "$PEERS_WORK/venv/bin/mlserver" ] || die "no MLServer in $PEERS_WORK/venv: run shared/peers/setup.sh"
for m in $MODELS; do
  read -r file _ <<<"$(artifact "$m")"
  [ -f "$file" ] || die "missing $file: run shared/peers/setup.sh"
  [ -f "$PEERS_WORK/models/mlserver/$(mlserver_name "$m")/model-settings.json" ] || die "missing MLServer model $m"
done
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$SLIPWAY_PORT" "$MLSERVER_PORT" $((MLSERVER_PORT + 1)) $((MLSERVER_PORT + 2)); do
  port_busy "$p" && die "port $p is in use (set SLIPWAY_PORT / MLSERVER_PORT)"
done
mkdir -p "$WORK/requests"

# --- build ---------------------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  log "building slipway (release) into $SCRATCH"
  swift build -c release --product slipway --package-path "$repo" --scratch-path "$SCRATCH" 2>&1 | tail -n 3
fi
bin=$SCRATCH/release/slipway
[ -x "$bin" ] || die "no release binary at $bin (run with BUILD=1)"

# --- servers -------------------------------------------------------------------------------------------
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() {  # URL SECONDS [curl args]: waits for a 200
  local url=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 5))); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}

# MLServer reads its ports from settings.json in the model repository: use our own repository that links
# the peers' model directories.
rm -rf "$WORK/mlserver" && mkdir -p "$WORK/mlserver"
for m in $MODELS; do ln -s "$PEERS_WORK/models/mlserver/$(mlserver_name "$m")" "$WORK/mlserver/"; done
cat >"$WORK/mlserver/settings.json" <<EOF
{"debug": false, "host": "127.0.0.1", "http_port": $MLSERVER_PORT, "grpc_port": $((MLSERVER_PORT + 1)),
 "metrics_port": $((MLSERVER_PORT + 2)), "parallel_workers": 0}
EOF
log "starting MLServer on $MLSERVER (log: $WORK/mlserver.log)"
(cd "$WORK/mlserver" && OMP_NUM_THREADS=$MLSERVER_OMP_THREADS exec setsid "$PEERS_WORK/venv/bin/mlserver" start . >"$WORK/mlserver.log" 2>&1) &
mlserver_pid=$!
pids+=("$mlserver_pid")

log "starting Slipway on $SLIPWAY (--log-level $LOG_LEVEL; log: $WORK/slipway.log)"
rm -rf "$WORK/slipway-home"
admin_key=$("$bin" keys generate)
# --team-rps: the per-team rate limit (default 10,000 req/s, 429 beyond) is raised so the benchmark
# measures serving, not the limiter.
(SLIPWAY_ADMIN_KEY=$admin_key exec setsid "$bin" serve --home "$WORK/slipway-home" --port "$SLIPWAY_PORT" \
  --log-level "$LOG_LEVEL" --team-rps 1000000 >"$WORK/slipway.log" 2>&1) &
slipway_pid=$!
pids+=("$slipway_pid")

wait_http "$SLIPWAY/healthz" 60 || { tail -20 "$WORK/slipway.log"; die "Slipway did not start"; }
wait_http "$MLSERVER/v2/health/ready" 180 || { tail -20 "$WORK/mlserver.log"; die "MLServer did not start"; }
for m in $MODELS; do
  wait_http "$MLSERVER/v2/models/$(mlserver_name "$m")/ready" 60 || die "MLServer model $(mlserver_name "$m") not ready"
done

# --- Slipway: team, service account, key, models, versions, deployments ---------------------------------
api() {  # METHOD PATH KEY [curl args]: prints the body; fails on a status >= 400
  local method=$1 path=$2 key=$3 out code
  shift 3
  out=$(curl -sS -X "$method" -H "Authorization: Bearer $key" -w $'\n%{http_code}' "$@" "$SLIPWAY$path")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  [ "$code" -lt 400 ] || { echo "Slipway: $method $path -> $code $out" >&2; return 1; }
  printf '%s' "$out"
}
json() { api "$1" "$2" "$3" -H 'Content-Type: application/json' --data-binary "$4"; }

log "setting up Slipway: team bench, service account bench-client (developer), deployments: $MODELS"
json POST /api/v1/teams "$admin_key" '{"name":"bench"}' >/dev/null
json POST /api/v1/teams/bench/service-accounts "$admin_key" '{"name":"bench-client","role":"developer"}' >/dev/null
client_key=$(json POST /api/v1/keys "$admin_key" '{"principal":"bench-client","name":"wrk"}' | jq -r .secret)
for m in $MODELS; do
  read -r file format <<<"$(artifact "$m")"
  json POST /api/v1/teams/bench/models "$client_key" "{\"name\":\"$m\"}" >/dev/null
  digest=$(api POST /api/v1/teams/bench/artifacts "$client_key" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$file" | jq -r .digest)
  json POST "/api/v1/teams/bench/models/$m/versions" "$client_key" \
    "{\"artifact\":\"$digest\",\"format\":\"$format\",\"description\":\"$(basename "$file") from $PEERS_WORK\"}" >/dev/null
  json PUT "/api/v1/teams/bench/models/$m/versions/1/production" "$admin_key" '{"allowed":true}' >/dev/null
  json PUT "/api/v1/teams/bench/deployments/$m" "$client_key" \
    "{\"model\":\"$m\",\"environment\":\"production\",\"routes\":[{\"version\":1,\"weight\":100}]}" >"$WORK/deployment_$m.json"
  # Slipway's body: the peers' row and shape, named as the model's input; for a model with several outputs
  # (the ONNX logistic regression: label, probabilities) ask only for the probabilities, like MLServer's
  # predict_proba.
  meta=$(api GET "/v2/models/$m" "$client_key")
  input=$(jq -r '.inputs[0].name' <<<"$meta")
  output=$(jq -r 'if (.outputs | length) > 1 then ([.outputs[] | select(.datatype == "FP32")][0].name) else "" end' <<<"$meta")
  $BENCH body "$(mlserver_body "$m")" "$WORK/requests/slipway_$m.json" "$input" $output
  echo "   $m: $format $(basename "$file"), input '$input'${output:+, output '$output'}, settings $(jq -c .settings "$WORK/deployment_$m.json")"
done

# --- same answer from both -----------------------------------------------------------------------------
log "checking both servers answer the same P(y=1) for the request row"
for m in $MODELS; do
  curl -sS -f -H 'Content-Type: application/json' --data-binary "@$(mlserver_body "$m")" \
    "$MLSERVER/v2/models/$(mlserver_name "$m")/infer" >"$WORK/answer_mlserver_$m.json"
  api POST "/v2/models/$m/infer" "$client_key" -H 'Content-Type: application/json' \
    --data-binary "@$WORK/requests/slipway_$m.json" >"$WORK/answer_slipway_$m.json"
  a=$($BENCH value "$WORK/answer_mlserver_$m.json")
  b=$($BENCH value "$WORK/answer_slipway_$m.json")
  python3 -c "import sys; a, b, t = map(float, sys.argv[1:]); d = abs(a - b); \
print(f'   $m: MLServer {a:.8f}  Slipway {b:.8f}  |diff| {d:.1e}'); sys.exit(0 if d <= t else 1)" "$a" "$b" "$TOL" ||
    die "$m: the servers disagree by more than $TOL (responses in $WORK/answer_*_$m.json)"
done

# --- load ----------------------------------------------------------------------------------------------
log "run $RUN: wrk -t1, ${DUR}s per run, connections: $CONNS, $REPEAT repetition(s) (raw results: $WORK/results.jsonl)"
lua_post=$PEERS_WORK/lua/post_json.lua
common=(--out "$WORK/results.jsonl" --run "$RUN" --dur "$DUR" --quiet-wait "$QUIET_WAIT")
# Each Slipway prediction run sits between the MLServer run it is compared with and the GET /healthz run it is
# divided by, so a slow minute on a shared machine moves both sides of each ratio; REPEAT > 1 repeats the whole
# sequence and the table reports medians.
for rep in $(seq "$REPEAT"); do
  for c in $CONNS; do
    for m in $MODELS; do
      $BENCH wrk "${common[@]}" --rep "$rep" --side mlserver --model "$m" --conns "$c" --lua "$lua_post" \
        --body "$(mlserver_body "$m")" --url "$MLSERVER/v2/models/$(mlserver_name "$m")/infer" --server-pid "$mlserver_pid"
      AUTH="Bearer $client_key" $BENCH wrk "${common[@]}" --rep "$rep" --side slipway --model "$m" --conns "$c" \
        --lua "$lua_post" --body "$WORK/requests/slipway_$m.json" --url "$SLIPWAY/v2/models/$m/infer" \
        --server-pid "$slipway_pid"
      $BENCH wrk "${common[@]}" --rep "$rep" --pair "$m" --side slipway --model healthz --conns "$c" \
        --lua "$here/get.lua" --url "$SLIPWAY/healthz" --server-pid "$slipway_pid"
      if [ "$ROUTER" = 1 ]; then
        AUTH="Bearer $client_key" $BENCH wrk "${common[@]}" --rep "$rep" --side router --model "$m" --conns "$c" \
          --lua "$lua_post" --body "$WORK/requests/slipway_$m.json" \
          --url "$SLIPWAY/v2/models/$m/infer?environment=production" --server-pid "$slipway_pid"
      fi
    done
  done
done

# --- report --------------------------------------------------------------------------------------------
echo
log "results, run $RUN (Slipway binary built $(date -u -r "$bin" +%FT%TZ), tree now at $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(
  [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ] && echo '+local changes'); log level $LOG_LEVEL; $(nproc) cores)"
$BENCH table --results "$WORK/results.jsonl" --run "$RUN"
$BENCH table --results "$WORK/results.jsonl" --run "$RUN" --markdown >"$WORK/table_$RUN.md"
echo
statuses=$(awk '/ path=\/(v2\/models\/[a-z]+\/infer|healthz) / && match($0, / status=[0-9]+ /) {
  n[substr($0, RSTART + 8, RLENGTH - 9)]++ } END { for (s in n) printf "%s: %d; ", s, n[s] }' "$WORK/slipway.log")
echo "Slipway log ($WORK/slipway.log): $(grep -ciE ' (error|critical) ' "$WORK/slipway.log" || true) error lines;" \
  "statuses of the logged prediction and /healthz requests: ${statuses:-none logged at this log level}"
echo "Markdown table: $WORK/table_$RUN.md"
