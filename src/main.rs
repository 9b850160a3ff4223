//! The `weir` binary: parses the command line, loads the configuration and
//! wires the crates together. Pipeline logic lives in the library crates.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use weir::cli::{Cli, Command};
use weir::commands;
use weir::config::Config;

// The dataflow allocates and frees many small records per reading; mimalloc
// measured ~10% faster than glibc malloc on `weir bench dataflow` (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cli.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // `capacity` is pure arithmetic: it needs no configuration.
    if let Command::Capacity(args) = &cli.command {
        return commands::capacity::run(args);
    }
    let path = Config::path_from(cli.config.clone());
    let config = Config::load(path.as_deref(), std::env::vars())?;
    match &cli.command {
        Command::Bench(args) => return commands::bench::run(&config, &args.command),
        Command::Migrate => return commands::migrate::run(&config),
        Command::Lag(args) => return commands::lag::run(&config, args),
        Command::Token(args) => return commands::token::run(&config, &args.command),
        Command::Sensors(args) => return commands::sensors::run(&config, &args.command),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => commands::run::run(&config, &args).await,
            Command::Topics => commands::topics::run(&config).await,
            Command::Simulate(args) => commands::simulate::run(config, &args).await,
            Command::Ingest(args) => commands::ingest::run(&config, &args).await,
            Command::Heartbeat(args) => commands::heartbeat::run(config, &args).await,
            Command::Capacity(_)
            | Command::Bench(_)
            | Command::Migrate
            | Command::Lag(_)
            | Command::Token(_)
            | Command::Sensors(_) => Ok(()),
        }
    })
}
