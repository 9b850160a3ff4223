#!/usr/bin/env bash
# Installs what is missing and starts weir's local services on 127.0.0.1,
# then waits until each is ready. Idempotent: a running service is reused.
#
#   PostgreSQL  127.0.0.1:5432  role/database `weir` (password `weir`)
#   Kafka       127.0.0.1:9092  Tansu 0.6.0, durable sqlite engine, state in $WEIR_STATE_DIR/tansu
#   MQTT        127.0.0.1:1883  Mosquitto
#   SMTP        127.0.0.1:8025  aiosmtpd, each message a file in $WEIR_SMTP_MAILDIR (heartbeat tests)
#
# Environment: WEIR_STATE_DIR (default ./.weir) holds the broker's data and logs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mkdir -p "$WEIR_STATE_DIR"

TANSU_VERSION=0.6.0

build_tools() {
  # What the workspace's build needs: a C toolchain for librdkafka (bundled,
  # built from source, with OpenSSL for Kafka TLS and SASL/SCRAM) and zlib;
  # python3 runs librdkafka's configure.
  apt_install gcc g++ make pkg-config zlib1g-dev libssl-dev python3 ca-certificates curl
  # Test peers: openssl makes the TLS tests' certificates; socat puts TLS
  # in front of a test broker (Tansu 0.6.0 has no TLS listener of its own).
  apt_install openssl socat
  command -v cargo >/dev/null || [ -x "$(cargo_bin)/cargo" ] ||
    die "cargo not found: install the Rust toolchain (rustup) first"
}

postgres() {
  if ! port_open 5432; then
    if ! command -v pg_ctlcluster >/dev/null; then apt_install postgresql; fi
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then
      version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
      as_root pg_createcluster "$version" main
    fi
    log "starting PostgreSQL $version"
    isolated as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2
    wait_port PostgreSQL 5432 60 "/var/log/postgresql/postgresql-$version-main.log"
  fi
  command -v psql >/dev/null || apt_install postgresql-client
  # Role and database, created through the local socket as the postgres superuser.
  local psql_admin=(psql -X -q -v ON_ERROR_STOP=1 -d postgres)
  if [ "$(id -u)" = 0 ]; then psql_admin=(runuser -u postgres -- "${psql_admin[@]}"); else
    psql_admin=(sudo -u postgres "${psql_admin[@]}")
  fi
  "${psql_admin[@]}" <<'SQL'
SELECT 'CREATE ROLE weir LOGIN CREATEDB PASSWORD ''weir'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'weir') \gexec
SELECT 'CREATE DATABASE weir OWNER weir'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'weir') \gexec
SQL
  psql -X -q "postgres://weir:weir@127.0.0.1:5432/weir" -c 'SELECT 1' >/dev/null ||
    die "PostgreSQL is up but role weir cannot log in over 127.0.0.1"
  # TLS, for the sslmode tests: Debian's default (ssl = on with the
  # snakeoil certificate for `localhost`), turned on when a cluster lacks it.
  if [ "$(psql -X -At "postgres://weir:weir@127.0.0.1:5432/weir" -c 'SHOW ssl')" != on ]; then
    [ -f /etc/ssl/certs/ssl-cert-snakeoil.pem ] || { apt_install ssl-cert; as_root make-ssl-cert generate-default-snakeoil; }
    "${psql_admin[@]}" <<'SQL'
ALTER SYSTEM SET ssl_cert_file = '/etc/ssl/certs/ssl-cert-snakeoil.pem';
ALTER SYSTEM SET ssl_key_file = '/etc/ssl/private/ssl-cert-snakeoil.key';
ALTER SYSTEM SET ssl = on;
SELECT pg_reload_conf();
SQL
    sleep 1
  fi
  log "PostgreSQL ready on 127.0.0.1:5432 (database weir; TLS: $(psql -X -At "postgres://weir:weir@127.0.0.1:5432/weir" -c 'SHOW ssl'))"
}

browser() {
  # Headless Chromium for the dashboard's browser test (Debian's packages; no download).
  apt_install chromium fonts-dejavu-core
}

mosquitto_broker() {
  # mosquitto_pub/mosquitto_sub are used by the MQTT tests, and the ingest
  # tests start Mosquittos of their own (the binary must be there even when
  # a system broker already runs).
  apt_install mosquitto mosquitto-clients
  if ! port_open 1883; then
    local dir="$WEIR_STATE_DIR/mosquitto"
    mkdir -p "$dir"
    cat >"$dir/mosquitto.conf" <<CONF
# Written by scripts/services.sh: loopback only, persistent sessions kept on disk.
listener 1883 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/
log_dest file $dir/mosquitto.log
# weir's bridge acknowledges a QoS 1 message once it is in its disk buffer:
# queue without limit for its session (the default, 1,000, drops messages
# under a burst) and let 100 be in flight (the default is 20).
max_queued_messages 0
max_inflight_messages 100
CONF
    # mosquitto drops root privileges to its own user: let it write its state.
    id mosquitto >/dev/null 2>&1 && as_root chown -R mosquitto "$dir"
    log "starting Mosquitto"
    detached "$dir" "$dir/mosquitto.stdout" mosquitto -c "$dir/mosquitto.conf"
    wait_port Mosquitto 1883 30 "$dir/mosquitto.log"
  fi
  log "Mosquitto ready on 127.0.0.1:1883"
}

smtp_server() {
  # A real SMTP server for `weir heartbeat`'s alert mail in tests: aiosmtpd
  # (Debian's python3-aiosmtpd) writing every message to a maildir. Plain
  # SMTP on loopback; no TLS, no authentication.
  apt_install python3-aiosmtpd
  # Debian's interpreter, which has the package (a `python3` first on PATH may not).
  local python=/usr/bin/python3
  if ! port_open "$WEIR_SMTP_PORT"; then
    # A maildir is three folders; an empty directory is not one.
    mkdir -p "$WEIR_SMTP_MAILDIR"/{tmp,new,cur} "$WEIR_STATE_DIR/smtp"
    log "starting aiosmtpd (maildir $WEIR_SMTP_MAILDIR)"
    detached "$WEIR_STATE_DIR/smtp" "$WEIR_STATE_DIR/smtp/aiosmtpd.log" \
      "$python" -m aiosmtpd -n -l "127.0.0.1:$WEIR_SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$WEIR_SMTP_MAILDIR"
    wait_port aiosmtpd "$WEIR_SMTP_PORT" 30 "$WEIR_STATE_DIR/smtp/aiosmtpd.log"
  fi
  log "SMTP (aiosmtpd) ready on 127.0.0.1:$WEIR_SMTP_PORT, maildir $WEIR_SMTP_MAILDIR"
}

tansu_broker() {
  local tansu
  tansu=$(command -v tansu || echo "$(cargo_bin)/tansu")
  if [ ! -x "$tansu" ]; then
    log "installing Tansu $TANSU_VERSION (cargo install, 15-30 minutes once; then cached in $(cargo_bin))"
    cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql
    tansu="$(cargo_bin)/tansu"
  fi
  if ! port_open 9092; then
    local dir="$WEIR_STATE_DIR/tansu"
    mkdir -p "$dir/data"
    log "starting Tansu (sqlite engine, $dir/data/tansu.db)"
    # The sqlite engine is the durable, correct one (the memory engine skips
    # records when a consumer resumes mid-batch): see docs/ARCHITECTURE.md.
    detached "$dir" "$dir/tansu.log" "$tansu" broker \
      --listener-url tcp://127.0.0.1:9092 \
      --advertised-listener-url tcp://127.0.0.1:9092 \
      --storage-engine sqlite://data/tansu.db
    wait_port Tansu 9092 60 "$dir/tansu.log"
  fi
  # Tansu's sqlite schema lacks an index that makes consumption quadratic
  # without it (see the script); add it to the running broker's database.
  local db="$WEIR_STATE_DIR/tansu/data/tansu.db"
  if [ -f "$db" ]; then python3 "$WEIR_ROOT/scripts/tansu_index.py" "$db"; fi
  log "Kafka (Tansu) ready on 127.0.0.1:9092"
}

build_tools
postgres
mosquitto_broker
smtp_server
tansu_broker
browser
