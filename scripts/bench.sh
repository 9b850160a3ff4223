#!/usr/bin/env bash
# Benchmarks that are not tests (nothing here is asserted; figures go to
# docs/PERFORMANCE.md with the command that produced them).
#
#   scripts/bench.sh sink [COUNT] [ENGINE]
#       Sustained readings/s into PostgreSQL through the whole pipeline from
#       the broker: a broker of its own (Tansu, ENGINE = sqlite | memory;
#       default sqlite) on 127.0.0.1:19092, COUNT simulated readings (default
#       1,000,000; 10,000 sensors) produced first, then
#       `weir run --until-end -w 2` into a fresh PostgreSQL schema.
#       The memory engine is only fit for this one-pass read from offset 0
#       (it skips records when a consumer resumes mid-batch).
#   scripts/bench.sh ws [CLIENTS] [SECONDS] [RATE]
#       CLIENTS WebSocket subscribers (default 1,000) held SECONDS (default
#       60), one zone each over 100 zones, on a live `weir run -w 2` while the simulator produces RATE
#       readings/s (default 20,000: 10,000 sensors every 0.5 s, real time) into a
#       broker of its own; reports disconnects, messages, latency and the
#       server's RSS.
#   scripts/bench.sh latency [RATE] [SECONDS] [ENGINE]
#       End-to-end latency, producer timestamp to WebSocket receipt: a broker
#       of its own (ENGINE = memory | sqlite; default memory, fit here because
#       the consumer never resumes), a live `weir run -w 2` storing into
#       PostgreSQL, the simulator producing RATE readings/s (default 20,000)
#       in real time, and `weir bench latency` following 10 of 100 zones for
#       SECONDS (default 60). HDR percentiles, the broker's share, and a plot
#       in target/bench-latency/ENGINE-RATE/.
#   scripts/bench.sh alerts [RATE] [SECONDS] [ENGINE]
#       Alert latency: as `latency`, with the simulator spiking 0.2% of the
#       readings above critical (each spike an alert; zone grouping off so
#       every one is delivered), `weir bench alerts` receiving the webhook and
#       following every zone on a WebSocket for SECONDS (default 60).
#   scripts/bench.sh ingest [SECONDS] [ENGINE] [FSYNC]
#       HTTP batch ingest into Kafka: a broker of its own (ENGINE, default
#       memory: a producer-only run), `weir ingest` (its disk buffer synced
#       per FSYNC, default always), and `weir bench ingest` posting batches of
#       1,000 readings on 8 keep-alive connections for SECONDS (default 30).
#   scripts/bench.sh idle [SECONDS]
#       What an idle pipeline costs: a broker of its own (Tansu sqlite, the
#       durable engine), `weir run` with its server over empty topics, and
#       the CPU each uses over SECONDS (default 60, after 15 s to settle),
#       in percent of one core (from /proc/PID/stat).
#   scripts/bench.sh backlog [COUNT] [SECONDS]
#       Catching up: COUNT readings (default 5,000,000; 10,000 sensors, the
#       last COUNT/1,000 s of event time) produced first into a broker of its
#       own (Tansu sqlite), then a live `weir run -w 2`: rows stored and RSS
#       every 5 s until all are stored (or SECONDS, default 600), and the
#       run's peak RSS (VmHWM).
#   scripts/bench.sh ids [COUNT] [SECONDS] [RATE]
#       COUNT distinct sensor ids (default 1,000,000) through `weir ingest`
#       (HTTP batches of 1,000 on one connection, every id in turn, for
#       SECONDS, default 120, at most RATE readings/s, default 10,000: the
#       gateway's rate limit, a refused batch is sent again) into a live
#       `weir run -w 2`; the peak RSS of both. Sensors are forgotten after
#       dataflow.forget_after_ms of record time (set it, e.g.
#       WEIR_DATAFLOW__FORGET_AFTER_MS=10000). WEIR_RUN_ARGS adds flags to the run.
#   scripts/bench.sh heartbeat [ROUNDS] [INTERVAL_MS]
#       End-to-end time of `weir heartbeat`'s probes on an otherwise idle
#       pipeline: a broker of its own (Tansu sqlite), a Mosquitto of its own,
#       a live `weir run --ingest`, and `weir heartbeat` for ROUNDS rounds
#       (default 30) every INTERVAL_MS (default 2000); per path × check the
#       median, p90 and max of the rounds' end-to-end times (from its /health).
#   scripts/bench.sh dataflow|memory|hot [ARGS]   → weir bench dataflow|memory|hot
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WEIR_ROOT"

what=${1:-}
shift || true

build() { # WEIR_BENCH_NO_BUILD=1 measures the binary already built
  [ -n "${WEIR_BENCH_NO_BUILD:-}" ] || cargo build --release --locked --bin weir >&2
  WEIR=$WEIR_ROOT/target/release/weir
}

sink() {
  local count=${1:-1000000} engine=${2:-sqlite}
  scripts/services.sh
  build
  local port=19092
  own_broker $port "$engine"
  trap 'kill $BROKER_PID 2>/dev/null || true' EXIT

  local schema="bench_sink_$(date +%s)"
  export WEIR_KAFKA__BROKERS=127.0.0.1:$port WEIR_POSTGRES__SCHEMA=$schema
  "$WEIR" topics >&2
  local t0 t1
  t0=$(date +%s.%N)
  # Event time starts a day ago: recent enough for the topics' 7-day retention.
  local start_ms=$(( ($(date +%s) - 86400) / 3600 * 3600000 ))
  "$WEIR" simulate --count "$count" --sensors 10000 --zones 100 --interval 10s \
    --rate max --seed 1 --start-ms "$start_ms" >&2
  t1=$(date +%s.%N)
  log "produced $count readings in $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
  "$WEIR" run --until-end -w 2 --report-secs 5 2>"$DIR/run.log" >"$DIR/summaries.jsonl"
  grep -E "run finished|WARN|ERROR" "$DIR/run.log" >&2 || true
  local stored
  stored=$(psql -X -qAt "postgres://weir:weir@127.0.0.1:5432/weir" \
    -c "SELECT count(*) FROM $schema.readings")
  log "stored $stored readings (schema $schema; logs in $DIR)"
  kill $BROKER_PID 2>/dev/null || true
}

own_broker() { # own_broker PORT [ENGINE]: a fresh Tansu of its own on PORT (sets BROKER_PID, DIR)
  local port=$1 engine=${2:-sqlite} tansu storage=sqlite://data/tansu.db
  [ "$engine" = memory ] && storage=memory://tansu/
  tansu=$(command -v tansu || echo "$(cargo_bin)/tansu")
  DIR=$(mktemp -d /tmp/weir-bench.XXXXXX)
  mkdir -p "$DIR/data"
  port_open "$port" && die "port $port is taken: stop whatever listens there"
  (cd "$DIR" && exec "$tansu" broker --listener-url tcp://127.0.0.1:$port \
    --advertised-listener-url tcp://127.0.0.1:$port --storage-engine "$storage" \
    >"$DIR/tansu.log" 2>&1) &
  BROKER_PID=$!
  log "broker: Tansu $storage on 127.0.0.1:$port ($DIR)"
  wait_port Tansu "$port" 60 "$DIR/tansu.log"
  if [ "$engine" = sqlite ]; then python3 scripts/tansu_index.py "$DIR/data/tansu.db"; fi
}

live_run() { # live_run SERVER_PORT RATE COUNT [SIMULATE ARGS]: the simulator in real time (10,000 sensors, 100 zones) and `weir run -w 2 $WEIR_RUN_ARGS`, in the background (sets SIM_PID, RUN_PID)
  local port=$1 rate=$2 count=$3
  shift 3
  # Real time: 10,000 sensors, each every 10,000/RATE seconds, stamped when sent.
  "$WEIR" simulate --sensors 10000 --zones 100 --interval "$((10000 * 1000 / rate))ms" --rate realtime \
    --count "$count" "$@" >"$DIR/simulate.log" 2>&1 &
  SIM_PID=$!
  # shellcheck disable=SC2086 # WEIR_RUN_ARGS: extra flags for the run (e.g. --no-store)
  "$WEIR" run -w 2 --report-secs 10 ${WEIR_RUN_ARGS:-} >"$DIR/run.out" 2>"$DIR/run.log" &
  RUN_PID=$!
  wait_port "weir server" "$port" 60 "$DIR/run.log"
}

ws() {
  local clients=${1:-1000} seconds=${2:-60} rate=${3:-20000}
  scripts/services.sh
  build
  ulimit -n "$(ulimit -Hn)" # 1,000 clients need 2,000+ descriptors (both ends)
  own_broker 19094
  RUN_PID='' SIM_PID=''
  trap 'kill $BROKER_PID $RUN_PID $SIM_PID 2>/dev/null || true' EXIT
  export WEIR_KAFKA__BROKERS=127.0.0.1:19094 WEIR_POSTGRES__SCHEMA="bench_ws_$(date +%s)" \
    WEIR_SERVER__LISTEN=127.0.0.1:18089
  "$WEIR" topics >&2
  live_run 18089 "$rate" $((rate * (seconds + 40)))
  sleep 15 # let the pipeline reach its steady state
  "$WEIR" bench ws --address 127.0.0.1:18089 --clients "$clients" --seconds "$seconds" --zones 100 \
    --server-pid "$RUN_PID"
  log "records read: $(curl -s 127.0.0.1:18089/metrics | grep '^weir_records_read_total')"
  log "logs in $DIR"
}

latency() {
  local rate=${1:-20000} seconds=${2:-60} engine=${3:-memory}
  scripts/services.sh
  build
  own_broker 19095 "$engine"
  RUN_PID='' SIM_PID=''
  trap 'kill $BROKER_PID $RUN_PID $SIM_PID 2>/dev/null || true' EXIT
  export WEIR_KAFKA__BROKERS=127.0.0.1:19095 WEIR_POSTGRES__SCHEMA="bench_latency_$(date +%s)" \
    WEIR_SERVER__LISTEN=127.0.0.1:18090
  "$WEIR" topics >&2
  live_run 18090 "$rate" $((rate * (seconds + 40)))
  sleep 10 # the registry, the first rounds and the statistics settle
  "$WEIR" bench latency --address 127.0.0.1:18090 --seconds "$seconds" --warmup-secs 5 --zones 10 \
    --out "target/bench-latency/$engine-$rate${WEIR_RUN_ARGS:+-${WEIR_RUN_ARGS// /}}" --label "Tansu $engine, $rate readings/s, weir run -w 2 ${WEIR_RUN_ARGS:-+ PostgreSQL}"
  grep -E "WARN|ERROR" "$DIR/run.log" | head -5 >&2 || true
  log "logs in $DIR"
}

alerts() {
  local rate=${1:-10000} seconds=${2:-60} engine=${3:-memory}
  scripts/services.sh
  build
  own_broker 19096 "$engine"
  RUN_PID='' SIM_PID=''
  trap 'kill $BROKER_PID $RUN_PID $SIM_PID 2>/dev/null || true' EXIT
  local hook_port=19097
  port_open $hook_port && die "port $hook_port is taken"
  export WEIR_KAFKA__BROKERS=127.0.0.1:19096 WEIR_POSTGRES__SCHEMA="bench_alerts_$(date +%s)" \
    WEIR_SERVER__LISTEN=127.0.0.1:18091 WEIR_ALERTS__GROUP_THRESHOLD=1000000 \
    WEIR_DELIVERY__WEBHOOKS="[{name = \"bench\", url = \"http://127.0.0.1:$hook_port/hook\"}]"
  "$WEIR" topics >&2
  live_run 18091 "$rate" $((rate * (seconds + 45))) --spike-rate 0.002
  sleep 10
  "$WEIR" bench alerts --address 127.0.0.1:18091 --webhook "127.0.0.1:$hook_port" --seconds "$seconds" \
    --label "Tansu $engine, $rate readings/s, spikes 0.2%, weir run -w 2 + PostgreSQL"
  grep -E "WARN|ERROR" "$DIR/run.log" | head -5 >&2 || true
  log "logs in $DIR"
}

ingest() {
  local seconds=${1:-30} engine=${2:-memory} fsync=${3:-always}
  scripts/services.sh
  build
  own_broker 19098 "$engine"
  RUN_PID=''
  trap 'kill $BROKER_PID $RUN_PID 2>/dev/null || true' EXIT
  local http_port=18092
  port_open $http_port && die "port $http_port is taken"
  cat >"$DIR/weir.toml" <<TOML
[kafka]
brokers = "127.0.0.1:19098"
[ingest.http]
listen = "127.0.0.1:$http_port"
[ingest.mqtt]
enabled = false
[ingest.grpc]
enabled = false
[ingest.buffer]
dir = "$DIR/buffer"
fsync = "$fsync"
[ingest.rate]
gateway_burst = $rate.0
gateway_per_sec = $rate.0
device_burst = 10000000.0
device_per_sec = 10000000.0
[ingest.auth]
tokens = [{ token = "bench-token", device = "bench", sensors = ["load-*"] }]
TOML
  "$WEIR" --config "$DIR/weir.toml" topics >&2
  "$WEIR" --config "$DIR/weir.toml" ingest >"$DIR/ingest.out" 2>"$DIR/ingest.log" &
  RUN_PID=$!
  wait_port "weir ingest" $http_port 60 "$DIR/ingest.log"
  "$WEIR" bench ingest --address "127.0.0.1:$http_port" --token bench-token --seconds "$seconds"
  grep -E "WARN|ERROR" "$DIR/ingest.log" | head -5 >&2 || true
  log "broker: Tansu $engine; buffer fsync: $fsync; logs in $DIR"
}

cpu_ticks() { # cpu_ticks PID: user + system clock ticks used so far
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

idle() {
  local seconds=${1:-60}
  scripts/services.sh
  build
  own_broker 19099 sqlite
  RUN_PID=''
  trap 'kill $BROKER_PID $RUN_PID 2>/dev/null || true' EXIT
  export WEIR_KAFKA__BROKERS=127.0.0.1:19099 WEIR_POSTGRES__SCHEMA="bench_idle_$(date +%s)" \
    WEIR_SERVER__LISTEN=127.0.0.1:18093
  "$WEIR" topics >&2
  # shellcheck disable=SC2086 # WEIR_RUN_ARGS: extra flags for the run
  "$WEIR" run ${WEIR_RUN_ARGS:-} --report-secs 60 >"$DIR/run.out" 2>"$DIR/run.log" &
  RUN_PID=$!
  wait_port "weir server" 18093 60 "$DIR/run.log"
  sleep 15
  local hz b0 w0 b1 w1
  hz=$(getconf CLK_TCK)
  b0=$(cpu_ticks "$BROKER_PID") w0=$(cpu_ticks "$RUN_PID")
  sleep "$seconds"
  b1=$(cpu_ticks "$BROKER_PID") w1=$(cpu_ticks "$RUN_PID")
  log "idle for ${seconds}s: broker $(awk "BEGIN { printf \"%.1f\", 100 * ($b1 - $b0) / $hz / $seconds }")% of a core, weir run $(awk "BEGIN { printf \"%.1f\", 100 * ($w1 - $w0) / $hz / $seconds }")% (Tansu sqlite; ${WEIR_RUN_ARGS:-weir run}; logs in $DIR)"
}

peak_rss_kb() { # peak_rss_kb PID: the process's peak resident set (VmHWM), in KiB
  awk '/^VmHWM/ { print $2 }' "/proc/$1/status"
}

backlog() {
  local count=${1:-5000000} seconds=${2:-600}
  scripts/services.sh
  build
  own_broker 19097 sqlite
  RUN_PID=''
  trap 'kill $BROKER_PID $RUN_PID 2>/dev/null || true' EXIT
  local schema="bench_backlog_$(date +%s)"
  export WEIR_KAFKA__BROKERS=127.0.0.1:19097 WEIR_POSTGRES__SCHEMA=$schema WEIR_SERVER__LISTEN=127.0.0.1:18094
  "$WEIR" topics >&2
  # Event time: the last COUNT/10,000 x 10 s, ending now (recent enough for retention).
  local span_ms=$(( count / 10000 * 10000 ))
  local start_ms=$(( $(date +%s) * 1000 - span_ms ))
  local t0 chunk=500000 done=0
  t0=$(date +%s)
  # In chunks of 500,000, each its own stretch of event time: one producer
  # pushing millions at once outruns Tansu's sqlite engine, whose stalls
  # then fail records after the producer's 2-minute timeout.
  while [ "$done" -lt "$count" ]; do
    local n=$(( count - done < chunk ? count - done : chunk ))
    "$WEIR" simulate --count "$n" --sensors 10000 --zones 100 --interval 10s \
      --rate max --seed 1 --start-ms $(( start_ms + done / 10000 * 10000 )) \
      $([ "$done" = 0 ] || echo --no-registry) >&2
    done=$(( done + n ))
  done
  log "produced $count readings in $(( $(date +%s) - t0 )) s; now a live weir run -w 2 over the backlog"
  "$WEIR" run -w 2 --report-secs 10 >"$DIR/run.out" 2>"$DIR/run.log" &
  RUN_PID=$!
  t0=$(date +%s)
  local stored=0 elapsed=0
  echo "seconds  stored  rss_mib" >&2
  while [ "$stored" -lt "$count" ] && [ "$elapsed" -lt "$seconds" ]; do
    sleep 5
    elapsed=$(( $(date +%s) - t0 ))
    stored=$(psql -X -qAt "postgres://weir:weir@127.0.0.1:5432/weir" \
      -c "SELECT count(*) FROM $schema.readings" 2>/dev/null || echo 0)
    echo "$elapsed  $stored  $(( $(awk '/^VmRSS/ { print $2 }' "/proc/$RUN_PID/status") / 1024 ))" >&2
  done
  log "backlog of $count: $stored stored after ${elapsed}s; weir run peak RSS $(( $(peak_rss_kb "$RUN_PID") / 1024 )) MiB (logs in $DIR)"
}

ids() {
  local count=${1:-1000000} seconds=${2:-120} rate=${3:-10000}
  scripts/services.sh
  build
  own_broker 19096 sqlite
  RUN_PID='' INGEST_PID=''
  trap 'kill $BROKER_PID $RUN_PID $INGEST_PID 2>/dev/null || true' EXIT
  local http_port=18095
  cat >"$DIR/weir.toml" <<TOML
[kafka]
brokers = "127.0.0.1:19096"
[postgres]
schema = "bench_ids_$(date +%s)"
[server]
listen = "127.0.0.1:18096"
[ingest.http]
listen = "127.0.0.1:$http_port"
[ingest.mqtt]
enabled = false
[ingest.grpc]
enabled = false
[ingest.buffer]
dir = "$DIR/buffer"
[ingest.rate]
gateway_burst = $rate.0
gateway_per_sec = $rate.0
device_burst = 10000000.0
device_per_sec = 10000000.0
[ingest.auth]
tokens = [{ token = "bench-token", device = "bench", sensors = ["load-*"] }]
TOML
  "$WEIR" --config "$DIR/weir.toml" topics >&2
  "$WEIR" --config "$DIR/weir.toml" ingest >"$DIR/ingest.out" 2>"$DIR/ingest.log" &
  INGEST_PID=$!
  # shellcheck disable=SC2086 # WEIR_RUN_ARGS: extra flags for the run
  "$WEIR" --config "$DIR/weir.toml" run -w 2 --report-secs 10 ${WEIR_RUN_ARGS:-} >"$DIR/run.out" 2>"$DIR/run.log" &
  RUN_PID=$!
  wait_port "weir ingest" $http_port 60 "$DIR/ingest.log"
  wait_port "weir server" 18096 60 "$DIR/run.log"
  # COUNT distinct sensor ids (one connection: ids load-0-0 … load-0-COUNT-1, in turn).
  "$WEIR" bench ingest --address "127.0.0.1:$http_port" --token bench-token \
    --connections 1 --sensors "$count" --seconds "$seconds"
  sleep 30
  log "$count distinct ids: weir ingest peak RSS $(( $(peak_rss_kb "$INGEST_PID") / 1024 )) MiB, weir run peak RSS $(( $(peak_rss_kb "$RUN_PID") / 1024 )) MiB (${WEIR_RUN_ARGS:-defaults}; logs in $DIR)"
  grep -E "WARN|ERROR" "$DIR/run.log" | head -5 >&2 || true
}

heartbeat() {
  local rounds=${1:-30} interval=${2:-2000}
  scripts/services.sh
  build
  own_broker 19097
  local mqtt_port=18831
  RUN_PID='' HB_PID='' MQ_PID=''
  trap 'kill $BROKER_PID $RUN_PID $HB_PID $MQ_PID 2>/dev/null || true' EXIT
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' $mqtt_port >"$DIR/mosquitto.conf"
  mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 &
  MQ_PID=$!
  wait_port Mosquitto $mqtt_port 30 "$DIR/mosquitto.log"
  cat >"$DIR/weir.toml" <<TOML
[ingest]
enabled = true
[ingest.http]
listen = "127.0.0.1:18181"
[ingest.grpc]
enabled = false
[ingest.mqtt]
broker = "127.0.0.1:$mqtt_port"
client_id = "bench-hb-bridge"
[ingest.buffer]
dir = "$DIR/buffer"
[ingest.auth]
tokens = [{ token = "bench-hb", device = "heartbeat", sensors = ["hb-*"] }]
[heartbeat]
name = "bench"
listen = "127.0.0.1:19301"
interval_ms = $interval
deadline_ms = 10000
server = "127.0.0.1:18097"
ingest_http = "127.0.0.1:18181"
ingest_token = "bench-hb"
mqtt_broker = "127.0.0.1:$mqtt_port"
watchdog_after_ms = 0
TOML
  export WEIR_CONFIG=$DIR/weir.toml WEIR_KAFKA__BROKERS=127.0.0.1:19097 \
    WEIR_POSTGRES__SCHEMA="bench_hb_$(date +%s)" WEIR_SERVER__LISTEN=127.0.0.1:18097
  "$WEIR" topics >&2
  "$WEIR" run --report-secs 30 >"$DIR/run.out" 2>"$DIR/run.log" &
  RUN_PID=$!
  wait_port "weir server" 18097 60 "$DIR/run.log"
  wait_port "weir ingest" 18181 60 "$DIR/run.log"
  "$WEIR" heartbeat >"$DIR/heartbeat.out" 2>"$DIR/heartbeat.log" &
  HB_PID=$!
  wait_port "weir heartbeat" 19301 60 "$DIR/heartbeat.log"
  log "heartbeat: $rounds rounds every $interval ms (logs in $DIR)"
  # One sample per round and cell: /health's last_e2e_ms whenever `rounds` moves.
  python3 - "$rounds" <<'PY'
import json, sys, time, urllib.request
rounds, seen, samples, fails = int(sys.argv[1]), 0, {}, {}
while seen < rounds:
    time.sleep(0.2)
    try:
        health = json.load(urllib.request.urlopen("http://127.0.0.1:19301/health", timeout=5))
    except Exception:
        continue
    if health["rounds"] == seen:
        continue
    seen = health["rounds"]
    for c in health["checks"]:
        key = (c["path"], c["check"])
        if c["ok"]:
            samples.setdefault(key, []).append(c["last_e2e_ms"])
        else:
            fails[key] = fails.get(key, 0) + 1
print(f"{'path':6} {'check':9} {'rounds':>6} {'failed':>6} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8}")
for key in sorted(set(samples) | set(fails)):
    xs = sorted(samples.get(key, []))
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
    print(f"{key[0]:6} {key[1]:9} {len(xs):>6} {fails.get(key, 0):>6} {q(0.5):>8.0f} {q(0.9):>8.0f} {(xs[-1] if xs else float('nan')):>8.0f}")
PY
  grep -E "WARN|ERROR" "$DIR/heartbeat.log" | head -5 >&2 || true
}

case "$what" in
  idle) idle "$@" ;;
  backlog) backlog "$@" ;;
  ids) ids "$@" ;;
  sink) sink "$@" ;;
  ws) ws "$@" ;;
  latency) latency "$@" ;;
  alerts) alerts "$@" ;;
  ingest) ingest "$@" ;;
  heartbeat) heartbeat "$@" ;;
  dataflow | memory | hot) build; "$WEIR" bench "$what" "$@" ;;
  *) die "usage: scripts/bench.sh idle [SECONDS] | backlog [COUNT] [SECONDS] | ids [COUNT] [SECONDS] [RATE] | sink [COUNT] [sqlite|memory] | ws [CLIENTS] [SECONDS] [RATE] | latency [RATE] [SECONDS] [memory|sqlite] | alerts [RATE] [SECONDS] [memory|sqlite] | ingest [SECONDS] [memory|sqlite] [always|interval|never] | heartbeat [ROUNDS] [INTERVAL_MS] | dataflow|memory|hot [ARGS]" ;;
esac
