# Shared helpers for weir's scripts (sourced, not run).

WEIR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEIR_STATE_DIR=${WEIR_STATE_DIR:-$WEIR_ROOT/.weir}

log() { echo "[weir] $*" >&2; }
die() { echo "[weir] error: $*" >&2; exit 1; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port NAME PORT SECONDS [LOGFILE]: wait until the port accepts connections.
wait_port() {
  local name=$1 port=$2 seconds=$3 logfile=${4:-}
  for ((i = 0; i < seconds * 5; i++)); do
    port_open "$port" && return 0
    sleep 0.2
  done
  [ -n "$logfile" ] && [ -f "$logfile" ] && tail -n 20 "$logfile" >&2
  die "$name did not accept connections on 127.0.0.1:$port within ${seconds}s"
}

# as_root CMD...: run as root (directly, or through sudo).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root for: $*"
  fi
}

APT_UPDATED=0
# apt_install PACKAGE...: install the Debian packages that are not installed yet.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The SMTP server the heartbeat tests send alert mail to (aiosmtpd, one file
# per message in a maildir). Not under WEIR_STATE_DIR: one server serves every
# worktree, and tests/common/smtp.rs reads the same two variables and defaults.
WEIR_SMTP_PORT=${WEIR_SMTP_PORT:-8025}
WEIR_SMTP_MAILDIR=${WEIR_SMTP_MAILDIR:-${HOME:-/root}/.local/state/weir/maildir}
export WEIR_SMTP_PORT WEIR_SMTP_MAILDIR

# cargo_bin: where `cargo install` puts binaries.
cargo_bin() { echo "${CARGO_HOME:-$HOME/.cargo}/bin"; }

# close_fds: close every descriptor above 2 in the current (sub)shell, so a
# service started from it does not hold its caller's pipes open (CI waits on them).
close_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
  done
  return 0
}

# detached DIR LOGFILE CMD...: start CMD in DIR in its own session, output to
# LOGFILE, inheriting no descriptor from this script.
detached() {
  local dir=$1 logfile=$2
  shift 2
  (
    close_fds
    cd "$dir"
    exec setsid "$@" </dev/null >>"$logfile" 2>&1
  ) &
}

# isolated CMD...: run CMD in the foreground with no inherited descriptor but
# stdout/stderr (for tools such as pg_ctlcluster that leave a daemon behind).
isolated() { ( close_fds; "$@" </dev/null ); }
