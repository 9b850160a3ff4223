#!/usr/bin/env bash
# The whole test suite on a fresh machine: services, lint, then every unit
# and end-to-end test against the real broker, PostgreSQL and Mosquitto.
# One build profile (release) serves the tests and the binaries they run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WEIR_ROOT"
started=$(date +%s)

scripts/services.sh
log "services ready after $(($(date +%s) - started))s"

cargo fmt --all --check
cargo clippy --release --workspace --all-targets --locked -- -D warnings
python3 scripts/import_cycles.py "$WEIR_ROOT"
scripts/supply_chain.sh
log "lint done after $(($(date +%s) - started))s"

cargo test --release --workspace --locked --no-fail-fast
log "tests done after $(($(date +%s) - started))s"

# The HTTP contracts against the running code (the release binary is built by now).
scripts/api_fuzz.sh
log "api fuzz done after $(($(date +%s) - started))s"
