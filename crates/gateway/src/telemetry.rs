//! Log output: human-readable lines by default, one JSON object per line when configured.
//!
//! Nothing in Credless logs a token, cookie, credential or configuration value; fields name
//! what happened (`tenant.id`, `request.id`, `http.status`) instead.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};
use crate::error::Error;

/// Installs the global subscriber, writing to stderr.
///
/// Fails when `log.filter` is not a valid filter. Installing twice is harmless: the second
/// call keeps the first subscriber.
pub fn init(config: &LogConfig) -> Result<(), Error> {
    let filter = EnvFilter::try_new(&config.filter)
        .map_err(|_| Error::Config("log.filter: expected a filter such as \"info\"".into()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _already_set = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    Ok(())
}
