//! `credless`: the gateway binary. It reads the configuration, builds the parts from the
//! library crates, serves, and drains on a signal; the logic lives in the crates.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a CLI writes to its terminal"
)]

mod cli;
mod dev;
mod tenant;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

use credless_gateway::{Server, TokenSource, telemetry};

use crate::cli::{Cli, Command, ConfigArgs};

/// Exit code for bad usage or configuration (`EX_USAGE`).
const EXIT_USAGE: u8 = 64;

/// How a command failed: the operator's input, or anything else.
pub(crate) enum Failure {
    /// Bad usage or configuration: exit 64.
    Usage(String),
    /// Anything else: exit 1.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Other(error)
    }
}

impl From<credless_gateway::Error> for Failure {
    fn from(error: credless_gateway::Error) -> Self {
        if error.is_config() {
            Failure::Usage(error.to_string())
        } else {
            Failure::Other(error.into())
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let reason = error.to_string();
            let first = reason.lines().next().unwrap_or("bad usage");
            eprintln!("credless: {}", first.trim_start_matches("error: "));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("credless: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(reason)) => {
            eprintln!("credless: {reason}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Other(error)) => {
            eprintln!("credless: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Dev(args) => dev::run(args).await,
        Command::CheckConfig(args) => {
            args.load()?;
            eprintln!("credless: configuration is valid");
            Ok(())
        }
        Command::Tenant(command) => tenant::run(command).await,
    }
}

async fn serve(args: ConfigArgs) -> Result<(), Failure> {
    let config = args.load()?;
    telemetry::init(&config.log)?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting credless");

    let data_dir = std::env::current_dir().context("cannot read the working directory")?;
    let (gateway, token) = credless_gateway::open(config, &data_dir).await?;
    match &token {
        TokenSource::Generated(path) => tracing::info!(
            path = %path.display(),
            "no admin token configured: generated one; send it as `Authorization: Bearer`"
        ),
        TokenSource::Reused(path) => {
            tracing::info!(path = %path.display(), "using the generated admin token")
        }
        TokenSource::File(path) => tracing::info!(path = %path.display(), "admin token loaded"),
        TokenSource::Config => tracing::info!("admin token taken from the configuration"),
    }

    let server = Server::bind(gateway).await?;
    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("interrupt received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
