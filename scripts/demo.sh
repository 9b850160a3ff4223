#!/usr/bin/env bash
# The main job on a fresh machine: services, a release build, the topics,
# the simulator (with some faults) and the pipeline with its dashboard on
# http://127.0.0.1:8080/. Ctrl-C stops both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WEIR_ROOT"

scripts/services.sh
log "building weir (release)"
cargo build --release --bin weir
weir=target/release/weir
$weir topics

mkdir -p "$WEIR_STATE_DIR"
log "simulator: 200 sensors in 8 zones, one reading per second each (log: $WEIR_STATE_DIR/simulate.log)"
$weir simulate --sensors 200 --zones 8 --interval 1s --rate realtime \
  --spike-rate 0.001 --stuck-sensors 2 --abnormal-zone zone-03 --fault-after-rounds 120 \
  --garbage-rate 0.002 --late-rate 0.005 >"$WEIR_STATE_DIR/simulate.log" 2>&1 &
simulator=$!
trap 'kill $simulator 2>/dev/null || true' EXIT

# The ingest gateways too, with a demo device token.
cat >"$WEIR_STATE_DIR/demo.toml" <<TOML
[ingest.buffer]
dir = "$WEIR_STATE_DIR/ingest-buffer"
[ingest.auth]
tokens = [{ token = "demo-token", device = "demo" }]
TOML
# The dashboard and API ask for a token: an admin one for this demo, kept
# in the state directory (create others with `weir token create`).
admin_token=$($weir token create --name "demo-admin-$(date +%s)" --role admin --expires 7d)
printf '%s\n' "$admin_token" >"$WEIR_STATE_DIR/admin-token"
chmod 600 "$WEIR_STATE_DIR/admin-token"
log "sign in to the dashboard with the admin token in $WEIR_STATE_DIR/admin-token:"
log "  $admin_token"
log "pipeline: weir run with the ingest gateways (Ctrl-C to stop)"
log "dashboard: http://127.0.0.1:8080/  (REST with the token: curl -H \"Authorization: Bearer \$(cat $WEIR_STATE_DIR/admin-token)\" http://127.0.0.1:8080/api/zones; /api/openapi.json and /metrics are open)"
log "send a reading: curl -H 'Authorization: Bearer demo-token' -H 'Content-Type: application/json' \\"
log "  -d '{\"sensorId\":\"tmp-00001\",\"timestamp\":'\$(date +%s%3N)',\"value\":21.5}' http://127.0.0.1:8081/ingest"
log "  or: mosquitto_pub -t sensors/tmp-00001/readings -m '{\"sensorId\":\"tmp-00001\",\"timestamp\":...,\"value\":21.5}'"
$weir --config "$WEIR_STATE_DIR/demo.toml" run -w 2 --ingest
