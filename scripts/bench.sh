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
#   scripts/bench.sh dataflow|memory [ARGS]   → weir bench dataflow|memory
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WEIR_ROOT"

what=${1:-}
shift || true

build() {
  cargo build --release --locked --bin weir >&2
  WEIR=$WEIR_ROOT/target/release/weir
}

sink() {
  local count=${1:-1000000} engine=${2:-sqlite}
  scripts/services.sh
  build
  local dir port=19092 tansu
  tansu=$(command -v tansu || echo "$(cargo_bin)/tansu")
  dir=$(mktemp -d /tmp/weir-bench-sink.XXXXXX)
  mkdir -p "$dir/data"
  port_open $port && die "port $port is taken: stop whatever listens there"
  local storage="memory://tansu/"
  [ "$engine" = sqlite ] && storage="sqlite://data/tansu.db"
  log "broker: Tansu $storage on 127.0.0.1:$port ($dir)"
  (cd "$dir" && exec "$tansu" broker --listener-url tcp://127.0.0.1:$port \
    --advertised-listener-url tcp://127.0.0.1:$port --storage-engine "$storage" \
    >"$dir/tansu.log" 2>&1) &
  BROKER_PID=$!
  trap 'kill $BROKER_PID 2>/dev/null || true' EXIT
  wait_port Tansu $port 60 "$dir/tansu.log"
  [ "$engine" = sqlite ] && python3 scripts/tansu_index.py "$dir/data/tansu.db"

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
  "$WEIR" run --until-end -w 2 --report-secs 5 2>"$dir/run.log" >"$dir/summaries.jsonl"
  grep -E "run finished|WARN|ERROR" "$dir/run.log" >&2 || true
  local stored
  stored=$(psql -X -qAt "postgres://weir:weir@127.0.0.1:5432/weir" \
    -c "SELECT count(*) FROM $schema.readings")
  log "stored $stored readings (schema $schema; logs in $dir)"
  kill $BROKER_PID 2>/dev/null || true
}

case "$what" in
  sink) sink "$@" ;;
  dataflow | memory) build; "$WEIR" bench "$what" "$@" ;;
  *) die "usage: scripts/bench.sh sink [COUNT] [sqlite|memory] | dataflow [ARGS] | memory [ARGS]" ;;
esac
