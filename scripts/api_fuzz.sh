#!/usr/bin/env bash
# Fuzzes weir's two HTTP contracts with schemathesis, every check on, from a
# fixed seed: the server's /api/openapi.json (`weir run`) and the ingest
# gateway's /openapi.json (`weir ingest`, HTTP only, with a device token so
# the authenticated routes are exercised); the server with an admin token
# (`weir token create`). Exits non-zero on any finding.
#
# Needs PostgreSQL (5432) and a Kafka broker (9092) on loopback
# (scripts/services.sh) and the release binary (cargo build --release).
# Each run has its own topics, PostgreSQL schema and ports, so it disturbs
# no other test; everything it starts is stopped on exit.
#
#   scripts/api_fuzz.sh                     # both documents
#   API_FUZZ_EXAMPLES=200 scripts/api_fuzz.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WEIR_ROOT"

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${API_FUZZ_EXAMPLES:-50}
SEED=${API_FUZZ_SEED:-1}
WEIR=${WEIR_BIN:-${CARGO_TARGET_DIR:-$WEIR_ROOT/target}/release/weir}
PG_URL=${WEIR_POSTGRES__URL:-postgres://weir:weir@127.0.0.1:5432/weir}
BROKERS=${WEIR_KAFKA__BROKERS:-127.0.0.1:9092}

[ -x "$WEIR" ] || die "no $WEIR: build it first (cargo build --release)"
port_open 5432 || die "PostgreSQL is not on 127.0.0.1:5432 (scripts/services.sh)"
port_open "${BROKERS##*:}" || die "no Kafka broker on $BROKERS (scripts/services.sh)"

# schemathesis, pinned, in a venv of its own.
venv=$WEIR_STATE_DIR/schemathesis
st=$venv/bin/st
if ! "$st" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weir-api-fuzz.XXXXXX")
prefix="apifuzz-$$-$(date +%s)"
schema=${prefix//-/_}
pids=()
cleanup() {
  local status=$? pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if command -v psql >/dev/null; then
    psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  fi
  if [ "$status" -ne 0 ] && [ -d "$tmp" ]; then
    log "logs kept in $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
server_port=$(free_port)
ingest_port=$(free_port)
token="fuzz-$prefix"

export WEIR_KAFKA__BROKERS=$BROKERS WEIR_POSTGRES__URL=$PG_URL WEIR_POSTGRES__SCHEMA=$schema
for t in readings registry alerts dlq control; do
  export "WEIR_KAFKA__${t^^}_TOPIC=$prefix-$t"
done
export WEIR_SERVER__LISTEN=127.0.0.1:$server_port
unset WEIR_CONFIG

cat >"$tmp/ingest.toml" <<EOF
[ingest.http]
listen = "127.0.0.1:$ingest_port"
[ingest.grpc]
enabled = false
[ingest.mqtt]
enabled = false
[ingest.buffer]
dir = "$tmp/buffer"
[ingest.auth]
required = true
tokens = [{ token = "$token", device = "fuzz" }]
EOF

"$WEIR" --log warn topics >"$tmp/topics.log" 2>&1 || { cat "$tmp/topics.log" >&2; die "weir topics failed"; }
# The server asks for tokens (the default): an admin's reaches every route,
# and schemathesis checks that the secured ones refuse a request without it.
admin=$("$WEIR" --log warn token create --name fuzz-admin --role admin --expires 2h 2>"$tmp/token.log") \
  || { cat "$tmp/token.log" >&2; die "weir token create failed"; }
"$WEIR" --log warn run >"$tmp/run.log" 2>&1 &
pids+=($!)
"$WEIR" --log warn --config "$tmp/ingest.toml" ingest >"$tmp/ingest.log" 2>&1 &
pids+=($!)
wait_port "weir run" "$server_port" 60 "$tmp/run.log"
wait_port "weir ingest" "$ingest_port" 60 "$tmp/ingest.log"
# The server listens before `weir run` has migrated its schema: wait for a
# table-backed route to answer.
ready=0
for ((i = 0; i < 300; i++)); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]}), timeout=5)' \
    "http://127.0.0.1:$server_port/api/anomalies?limit=1" "$admin" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
[ "$ready" = 1 ] || { tail -n 20 "$tmp/run.log" >&2; die "weir run did not become ready within 60s"; }

# --generation-deterministic (no example database) and a seed: the same
# requests every run.
fuzz() {
  local name=$1
  shift
  log "schemathesis: $name"
  # From $tmp: schemathesis keeps a .schemathesis/ cache in its directory.
  # hooks.py: a serializer for the CSV import's text/csv body.
  (cd "$tmp" && PYTHONPATH="$WEIR_ROOT/scripts/api_fuzz" SCHEMATHESIS_HOOKS=hooks "$st" --config-file "$WEIR_ROOT/scripts/api_fuzz/$name.toml" run "$@" \
    --checks all --seed "$SEED" --max-examples "$EXAMPLES" \
    --generation-deterministic --workers 1 --no-color \
    --request-timeout 20 --report junit --report-dir "$tmp/report-$name")
}

status=0
fuzz server "http://127.0.0.1:$server_port/api/openapi.json" -H "Authorization: Bearer $admin" || status=1
# ASCII only: the decoder's text limits are UTF-8 bytes, JSON Schema's characters.
fuzz ingest "http://127.0.0.1:$ingest_port/openapi.json" \
  -H "Authorization: Bearer $token" --generation-codec ascii || status=1
for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || { log "a weir process died during the run (see $tmp)"; status=1; }
done
[ "$status" -eq 0 ] && log "api fuzz: no findings" || log "api fuzz: findings (above)"
exit "$status"
