#!/usr/bin/env bash
# The supply chain (deny.toml): licenses, banned and duplicate crates,
# sources, and RustSec advisories. Installs cargo-deny once (cargo install,
# a few minutes; then cached). Run by scripts/test.sh after the lints.
#
# Advisories need the RustSec database (a git repository on github.com):
# fetched fresh when github.com is reachable; otherwise a copy already in
# ~/.cargo/advisory-dbs is used and its date printed (WEIR_ADVISORY_DB may
# name a git repository to copy it from); with neither, the advisories are
# reported NOT CHECKED, loudly, and the rest still must pass.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$WEIR_ROOT"

DENY_VERSION=0.20.2
deny=$(command -v cargo-deny || echo "$HOME/.cargo/bin/cargo-deny")
if ! "$deny" --version 2>/dev/null | grep -q " $DENY_VERSION\$"; then
  log "installing cargo-deny $DENY_VERSION (cargo install, once)"
  cargo install cargo-deny --version "$DENY_VERSION" --locked
fi

# Every platform's crates (cargo-deny reads the whole graph; the build only
# downloads this platform's), so the checks below can run offline.
cargo fetch --locked
cargo deny --offline check licenses bans sources

# The directory cargo-deny keeps the default database in (a hash of its URL).
db_dir=$HOME/.cargo/advisory-dbs/advisory-db-3157b0e258782691
if timeout 30 git ls-remote https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  cargo deny check advisories
  log "advisories: checked against the RustSec database fetched now"
  exit 0
fi
if [ ! -d "$db_dir/.git" ] && [ -n "${WEIR_ADVISORY_DB:-}" ]; then
  git clone -q "$WEIR_ADVISORY_DB" "$db_dir"
fi
if [ -d "$db_dir/.git" ]; then
  cargo deny --offline check advisories
  log "advisories: checked against a local copy of the RustSec database dated $(git -C "$db_dir" log -1 --format=%cs) (github.com unreachable)"
else
  log "advisories: NOT CHECKED: github.com is unreachable and there is no local copy of the RustSec database (set WEIR_ADVISORY_DB)"
fi
