#!/usr/bin/env bash
# Every fault of issue #14 against one live pipeline, one after another, and
# a table: fault, readings sent, stored, dead-lettered, lost, duplicated,
# time to recover. Exits non-zero if a reading was lost or duplicated.
# The table goes in docs/RELIABILITY.md. See tests/chaos.rs for the phases.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WEIR_ROOT"
scripts/services.sh
cargo test --release --locked --test chaos 2>&1 | tee target/chaos.out
