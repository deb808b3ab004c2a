//! The command line: `serve`, `dev`, `tenant …` and `check-config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use credless_gateway::config::LogFormat;
use credless_gateway::{Config, Overrides};

/// Credless: one gateway for credential-less operations on AWS, Azure and GCP.
#[derive(Debug, Parser)]
#[command(name = "credless", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gateway (with no configuration file, defaults that need nothing else).
    Serve(ConfigArgs),
    /// Run the gateway with local stand-ins for an IdP, an oauth2-proxy and three clouds, and
    /// a demo tenant at `demo.localhost` (for trying Credless; never for real users).
    Dev(DevArgs),
    /// Manage tenants in the configured store.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Validate a configuration and exit 0, or 64 with the reason.
    CheckConfig(ConfigArgs),
}

/// `credless dev`.
#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Address of the portal and API listener; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Address of the operator listener; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub(crate) admin_listen: SocketAddr,
    /// Where to keep the SQLite store; by default a temporary directory removed at exit.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Print one line of JSON on standard output when ready, instead of the text for people.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where the configuration comes from, and flags that win over it.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// A TOML configuration file; `CREDLESS_<SECTION>__<KEY>` variables win over it.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Address of the portal and API listener (`server.listen`).
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,
    /// Address of the operator listener (`server.admin_listen`).
    #[arg(long, value_name = "ADDR")]
    pub(crate) admin_listen: Option<SocketAddr>,
    /// The store (`store.url`), such as `sqlite://credless.db`.
    #[arg(long, value_name = "URL")]
    pub(crate) store_url: Option<String>,
    /// `server.public_base_domain`: `<id>.<domain>` reaches tenant `<id>`.
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) public_base_domain: Option<String>,
    /// `log.format`: `text` or `json`.
    #[arg(long, value_name = "FORMAT", value_parser = parse_log_format)]
    pub(crate) log_format: Option<LogFormat>,
}

impl ConfigArgs {
    /// Loads the configuration these arguments name.
    pub(crate) fn load(&self) -> Result<Config, credless_gateway::Error> {
        let overrides = Overrides {
            listen: self.listen,
            admin_listen: self.admin_listen,
            store_url: self.store_url.clone(),
            public_base_domain: self.public_base_domain.clone(),
            log_format: self.log_format,
        };
        Config::load(self.config.as_deref(), &overrides)
    }
}

fn parse_log_format(value: &str) -> Result<LogFormat, String> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected `text` or `json`".to_owned()),
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Register a tenant, from a JSON document or from flags.
    Add(Box<TenantAdd>),
    /// List tenants as JSON.
    List(ConfigArgs),
    /// Show one tenant as JSON.
    Show {
        /// The tenant id.
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Remove a tenant and its accounts.
    Remove {
        /// The tenant id.
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// `credless tenant add`.
#[derive(Debug, Args)]
pub(crate) struct TenantAdd {
    /// A tenant JSON document as the operator API takes it (`-` for standard input).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["id", "admin_email", "proxy_url", "issuer"]
    )]
    pub(crate) file: Option<PathBuf>,
    /// The tenant id.
    #[arg(long, required_unless_present = "file")]
    pub(crate) id: Option<String>,
    /// The tenant admin's email.
    #[arg(long, required_unless_present = "file")]
    pub(crate) admin_email: Option<String>,
    /// A custom hostname (repeatable).
    #[arg(long = "hostname", value_name = "HOST")]
    pub(crate) hostnames: Vec<String>,
    /// The URL of the organisation's oauth2-proxy.
    #[arg(long, required_unless_present = "file")]
    pub(crate) proxy_url: Option<String>,
    /// The session cookie name, if not `_oauth2_proxy`.
    #[arg(long)]
    pub(crate) cookie_name: Option<String>,
    /// The OIDC issuer URL.
    #[arg(long, required_unless_present = "file")]
    pub(crate) issuer: Option<String>,
    /// An accepted ID token audience (repeatable).
    #[arg(long = "audience", value_name = "AUD")]
    pub(crate) audiences: Vec<String>,
    /// An IdP group whose members are tenant admins (repeatable).
    #[arg(long = "admin-group", value_name = "GROUP")]
    pub(crate) admin_groups: Vec<String>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}
