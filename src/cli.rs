//! The command line: `weir <command>`, each with its own `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// weir: a real-time sensor data pipeline on timely dataflow.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: none; built-in defaults point at the local services).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. `info` or `weir=debug` (RUST_LOG syntax; RUST_LOG also works).
    #[arg(long, global = true, default_value = "info", value_name = "FILTER")]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline: Kafka sources, the dataflow graph, the outputs.
    Run(RunArgs),
    /// Create the Kafka topics (idempotent) and check their partition counts.
    Topics,
    /// Show how far behind the readings topic the pipeline is, per partition.
    Lag(LagArgs),
    /// Apply PostgreSQL migrations (idempotent; `weir run` also does this) and print the layout.
    Migrate,
    /// Produce simulated sensor readings (and the sensor registry) to Kafka.
    Simulate(SimulateArgs),
    /// Run the ingest gateways alone (HTTP, MQTT, gRPC into Kafka), to scale them apart from compute.
    Ingest(IngestArgs),
    /// Print a capacity plan: events and storage per day, rates, partitions and workers.
    Capacity(CapacityArgs),
    /// Monitor a running weir from outside: known readings through every path, checked where people look; alerts by mail and webhook.
    Heartbeat(HeartbeatArgs),
    /// Measure: the dataflow's throughput, or its memory over hours of event time.
    Bench(BenchArgs),
    /// API tokens: create (the token is printed once), list, revoke.
    Token(TokenArgs),
    /// The sensor registry: list, get (with every version), put, rm, import a CSV file.
    Sensors(SensorsArgs),
}

/// `weir sensors`.
#[derive(Debug, Args)]
pub struct SensorsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SensorsCommand,
}

/// `weir sensors …`.
#[derive(Debug, Subcommand)]
pub enum SensorsCommand {
    /// The sensors in force (from the pipeline's mirror), optionally of one zone or kind.
    List {
        /// Only this zone.
        #[arg(long)]
        zone: Option<String>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
    },
    /// One sensor as JSON: the version in force and every earlier one.
    Get {
        /// The sensor id.
        id: String,
    },
    /// Create or change a sensor from a JSON record (the fields of PUT
    /// /api/sensors/{id}; `valid_from_ms` defaults to now).
    Put {
        /// The sensor id.
        id: String,
        /// The JSON file (`-`: standard input).
        #[arg(long, default_value = "-")]
        file: String,
    },
    /// Remove a sensor from now on (its stored readings stay).
    Rm {
        /// The sensor id.
        id: String,
    },
    /// Create or change many sensors from a CSV file (a header row naming
    /// the columns: sensor_id, kind, zone, location, unit, warn_low,
    /// warn_high, crit_low, crit_high, valid_min, valid_max, valid_from_ms,
    /// expected_interval_ms). Every bad row is named by its line; with one,
    /// nothing is written unless `--partial`.
    Import {
        /// The CSV file (`-`: standard input).
        file: String,
        /// Write the good rows even when some are bad.
        #[arg(long)]
        partial: bool,
    },
    /// Writes the current sensors (the pipeline's mirror) as CSV, in the
    /// columns `import` reads: `export > fleet.csv`, edit, `import fleet.csv`.
    Export {
        /// Only this zone.
        #[arg(long)]
        zone: Option<String>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
    },
}

/// `weir token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// `weir token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (only its hash is stored: it cannot be shown again).
    Create(TokenCreateArgs),
    /// List the tokens (never their secrets).
    List(TokenListArgs),
    /// Revoke a token by id: it stops working within `server.auth.refresh_ms`.
    Revoke(TokenRevokeArgs),
}

/// `weir token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Its name: the author of its acknowledgements and silences (letters, digits, `._@-`).
    #[arg(long)]
    pub name: String,
    /// viewer (read, WebSocket), operator (+ acknowledge, silence) or admin (+ tokens, audit log).
    #[arg(long)]
    pub role: String,
    /// A zone it may see (repeatable; none: every zone). Not for admins.
    #[arg(long = "zone", value_name = "ZONE")]
    pub zones: Vec<String>,
    /// How long it works: a duration (`90d`, `12h`, `30m`) or `never`.
    #[arg(long, default_value = "90d")]
    pub expires: String,
    /// Print the token and its description as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `weir token list`.
#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// Revoked tokens too.
    #[arg(long)]
    pub all: bool,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `weir token revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's id (the 12 hex digits after `weir_`, as `weir token list` shows).
    pub id: String,
}

/// `weir lag`.
#[derive(Debug, Args)]
pub struct LagArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `weir bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which benchmark.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Events/s of the graph without I/O, fed from memory.
    Dataflow(DataflowBenchArgs),
    /// Sensor-state size over hours of simulated event time.
    Memory(MemoryBenchArgs),
    /// Many WebSocket subscribers on a running server: drops, messages, latency.
    Ws(WsBenchArgs),
    /// The server's hot tier: memory per sensor after hours of points.
    Hot(HotBenchArgs),
    /// End-to-end latency on a running pipeline: producer timestamp to WebSocket receipt.
    Latency(LatencyBenchArgs),
    /// Alert latency on a running pipeline: to a webhook receiver and a WebSocket subscriber.
    Alerts(AlertsBenchArgs),
    /// HTTP batch ingest throughput on a running gateway (`weir ingest`).
    Ingest(IngestBenchArgs),
}

/// `weir bench dataflow`.
#[derive(Debug, Args)]
pub struct DataflowBenchArgs {
    /// Simulated sensors.
    #[arg(long, default_value_t = 10_000)]
    pub sensors: u32,
    /// Readings to push through.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Worker counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub workers: Vec<usize>,
    /// Records per partition per input round.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    /// Simulator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// `weir bench memory`.
#[derive(Debug, Args)]
pub struct MemoryBenchArgs {
    /// Simulated sensors.
    #[arg(long, default_value_t = 1_000)]
    pub sensors: u32,
    /// Hours of event time.
    #[arg(long, default_value_t = 3)]
    pub hours: u64,
    /// Interval between two readings of a sensor.
    #[arg(long, default_value = "5s")]
    pub interval: String,
}

/// `weir bench hot`.
#[derive(Debug, Args)]
pub struct HotBenchArgs {
    /// Sensors.
    #[arg(long, default_value_t = 10_000)]
    pub sensors: u32,
    /// Hours of event time fed in.
    #[arg(long, default_value_t = 24)]
    pub hours: u64,
    /// Milliseconds between two readings of a sensor.
    #[arg(long, default_value_t = 10_000)]
    pub interval_ms: i64,
}

/// `weir bench latency`.
#[derive(Debug, Args)]
pub struct LatencyBenchArgs {
    /// The server (`server.listen` of a running `weir run`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub address: String,
    /// Follow this many zones (`zone-01`…) on one WebSocket; 0 = all zones.
    #[arg(long, default_value_t = 10)]
    pub zones: u32,
    /// Seconds to measure.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Seconds to watch before measuring (not counted).
    #[arg(long, default_value_t = 5)]
    pub warmup_secs: u64,
    /// Where to write the HDR percentile table (`latency.hgrm`) and the plot (`latency.svg`).
    #[arg(long, default_value = "target/bench-latency")]
    pub out: std::path::PathBuf,
    /// A label for the plot and report (e.g. the broker engine and rate).
    #[arg(long, default_value = "")]
    pub label: String,
}

/// `weir bench ingest`.
#[derive(Debug, Args)]
pub struct IngestBenchArgs {
    /// The HTTP gateway (`ingest.http.listen`).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub address: String,
    /// A device token the gateway accepts (for `load-*` sensors).
    #[arg(long, default_value = "bench-token")]
    pub token: String,
    /// Keep-alive connections sending at once.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Readings per batch.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Sensors per connection.
    #[arg(long, default_value_t = 100)]
    pub sensors: usize,
    /// Seconds to send.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
}

/// `weir bench alerts`.
#[derive(Debug, Args)]
pub struct AlertsBenchArgs {
    /// The server (`server.listen` of a running `weir run`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub address: String,
    /// Where to listen as the webhook receiver (point `delivery.webhooks` here).
    #[arg(long, default_value = "127.0.0.1:9099")]
    pub webhook: String,
    /// Seconds to measure.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Seconds to watch before measuring (not counted).
    #[arg(long, default_value_t = 5)]
    pub warmup_secs: u64,
    /// A label for the report.
    #[arg(long, default_value = "")]
    pub label: String,
}

/// `weir bench ws`.
#[derive(Debug, Args)]
pub struct WsBenchArgs {
    /// The server (`server.listen` of a running `weir run`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub address: String,
    /// Concurrent subscribers.
    #[arg(long, default_value_t = 1_000)]
    pub clients: usize,
    /// Spread the subscribers over this many zones (`zone-01`…, as the
    /// simulator names them), one zone each, like control-room screens; 0 = every client follows all zones.
    #[arg(long, default_value_t = 0)]
    pub zones: u32,
    /// How long to hold them.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// The server's process id, to report its memory (VmRSS, VmHWM).
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// `weir run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Worker threads in this process.
    #[arg(short = 'w', long, default_value_t = 1)]
    pub workers: usize,
    /// Processes in the cluster (each runs this same command with its own --process).
    #[arg(short = 'n', long, default_value_t = 1)]
    pub processes: usize,
    /// This process's index in the cluster, 0-based.
    #[arg(short = 'p', long, default_value_t = 0)]
    pub process: usize,
    /// File with one `host:port` per process (required when --processes > 1).
    #[arg(long, value_name = "PATH")]
    pub hostfile: Option<PathBuf>,
    /// Read to the end offsets seen at start, finish the graph, then exit.
    #[arg(long)]
    pub until_end: bool,
    /// Write every output update as JSON lines, one file per worker.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Do not write to PostgreSQL (and start from the beginning of the topics).
    #[arg(long)]
    pub no_store: bool,
    /// Do not start the server (dashboard, REST API, WebSocket, metrics).
    #[arg(long)]
    pub no_server: bool,
    /// Start the ingest gateways too (as `[ingest] enabled = true`).
    #[arg(long, conflicts_with = "no_ingest")]
    pub ingest: bool,
    /// Do not start the ingest gateways (whatever `[ingest] enabled` says).
    #[arg(long)]
    pub no_ingest: bool,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECS")]
    pub duration_secs: Option<u64>,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub report_secs: u64,
}

/// `weir heartbeat`.
#[derive(Debug, Args)]
pub struct HeartbeatArgs {
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECS")]
    pub duration_secs: Option<u64>,
}

/// `weir ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECS")]
    pub duration_secs: Option<u64>,
}

/// `weir simulate`: every flag overrides `[simulator]` in the config.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of sensors.
    #[arg(long)]
    pub sensors: Option<u32>,
    /// Number of zones.
    #[arg(long)]
    pub zones: Option<u32>,
    /// Interval between two readings of one sensor, e.g. `1s`, `500ms`, `1m`.
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Target readings per second: a number, `realtime` (sensors per interval) or `max`.
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
    /// Stop after this many readings (default: run until interrupted).
    #[arg(long)]
    pub count: Option<u64>,
    /// Seed for every random choice.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Event time of the first round, epoch ms.
    #[arg(long, value_name = "EPOCH_MS")]
    pub start_ms: Option<i64>,
    /// Encoding shares, e.g. `v1=0.4,v2=0.4,protobuf=0.2`.
    #[arg(long, value_name = "SHARES")]
    pub mix: Option<String>,
    /// Probability of a spike above the critical threshold, per reading.
    #[arg(long, value_name = "P")]
    pub spike_rate: Option<f64>,
    /// Number of sensors that get stuck high.
    #[arg(long, value_name = "N")]
    pub stuck_sensors: Option<u32>,
    /// A zone whose sensors all go abnormal, e.g. `zone-03`.
    #[arg(long, value_name = "ZONE")]
    pub abnormal_zone: Option<String>,
    /// Round (one reading per sensor) from which stuck sensors and the abnormal zone misbehave.
    #[arg(long, value_name = "ROUNDS")]
    pub fault_after_rounds: Option<u64>,
    /// Rounds the stuck sensors misbehave in, e.g. `40-140,185-260` (overrides --fault-after-rounds for them).
    #[arg(long, value_name = "WINDOWS")]
    pub stuck_windows: Option<String>,
    /// Rounds the abnormal zone misbehaves in, e.g. `50-60`.
    #[arg(long, value_name = "WINDOWS")]
    pub abnormal_windows: Option<String>,
    /// Probability that a record is garbage (malformed, NaN, wrong type, out of range).
    #[arg(long, value_name = "P")]
    pub garbage_rate: Option<f64>,
    /// Probability that a reading is late (event time 2–90 minutes old).
    #[arg(long, value_name = "P")]
    pub late_rate: Option<f64>,
    /// Do not publish the sensors to the registry topic.
    #[arg(long)]
    pub no_registry: bool,
    /// Sensors or zones that send nothing in some rounds: `NAME@WINDOWS;…`,
    /// e.g. `tmp-00001@10-30;zone-02@40-55` (to test silent-sensor alerts).
    #[arg(long, value_name = "MUTED")]
    pub muted: Option<String>,
    /// State each sensor's interval in the registry (`expected_interval_ms`).
    #[arg(long)]
    pub state_interval: bool,
}

/// `weir capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// Number of sensors.
    #[arg(long)]
    pub sensors: u64,
    /// Interval between two readings of one sensor, e.g. `60s`, `1m`, `500ms`.
    #[arg(long, value_name = "DURATION")]
    pub interval: String,
    /// Bytes stored per event.
    #[arg(long, default_value_t = 500)]
    pub event_bytes: u64,
    /// Peak rate as a multiple of the average.
    #[arg(long, default_value_t = 3.0)]
    pub peak_factor: f64,
    /// Days the Kafka topic retains readings.
    #[arg(long, default_value_t = 7)]
    pub retention_days: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
