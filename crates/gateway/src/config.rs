//! Configuration: TOML file, then `CREDLESS_<SECTION>__<KEY>` environment variables, then
//! command-line overrides, each layer winning over the one before. Unknown keys are errors.
//!
//! Errors name the key and what was expected, never the value found: a value may be a secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;

/// The whole configuration of a Credless gateway.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listeners and how requests are trusted.
    pub server: ServerConfig,
    /// Where tenants and accounts are kept.
    pub store: StoreConfig,
    /// The operator API's credential.
    pub admin: AdminConfig,
    /// Session validation through each tenant's oauth2-proxy.
    pub session: SessionConfig,
    /// Limits every public server needs.
    pub limits: LimitsConfig,
    /// Log output.
    pub log: LogConfig,
    /// Cloud endpoints, overridable for tests and sovereign regions.
    pub clouds: CloudsConfig,
}

/// `[server]`: listeners and trust.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The tenants' portal and API.
    pub listen: SocketAddr,
    /// Operator API, `/metrics`, `/livez`, `/readyz`.
    pub admin_listen: SocketAddr,
    /// `<id>.<public_base_domain>` always reaches tenant `<id>`.
    pub public_base_domain: String,
    /// Peers whose `X-Forwarded-For`/`-Proto` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Allows `http://` and internal upstream addresses: local development and tests only.
    pub allow_insecure_upstreams: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            public_base_domain: "localhost".to_owned(),
            trusted_proxies: Vec::new(),
            allow_insecure_upstreams: false,
        }
    }
}

/// `[store]`: where tenants and accounts live.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path` (the default, in the working directory) or `postgres://…`.
    pub url: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://credless.db".to_owned(),
        }
    }
}

impl fmt::Debug for StoreConfig {
    // A database URL may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// `[admin]`: the operator API token, from a file or the environment.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// A file holding the token (surrounding whitespace ignored).
    pub token_file: Option<PathBuf>,
    /// The token itself; meant for `CREDLESS_ADMIN__TOKEN`, not for a file on disk.
    pub token: Option<String>,
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token_file", &self.token_file)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `[session]`: how long a validated session is trusted and how long the proxy may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A validated session is reused this long without asking the tenant's proxy again.
    #[serde(deserialize_with = "duration")]
    pub cache_ttl: Duration,
    /// How long the tenant's proxy may take to answer `/oauth2/auth`.
    #[serde(deserialize_with = "duration")]
    pub proxy_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(30),
            proxy_timeout: Duration::from_secs(3),
        }
    }
}

/// `[limits]`: protection every public server needs (an addition to the contract).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// A client must send its whole header block within this time, on every request.
    #[serde(deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// A client must send its whole body within this time once headers are read.
    #[serde(deserialize_with = "duration")]
    pub body_read_timeout: Duration,
    /// Header blocks larger than this are refused with `431`.
    pub max_header_bytes: usize,
    /// Bodies larger than this are refused with `413`.
    pub max_body_bytes: usize,
    /// Connections served at once per listener; more wait in the accept queue.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(15),
            body_read_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            max_body_bytes: 1024 * 1024,
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// `[log]`: log format and verbosity (an addition to the contract).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `info,credless_gateway=debug`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".to_owned(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[clouds.*]`: cloud endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudsConfig {
    /// AWS endpoints.
    pub aws: AwsEndpoints,
    /// Azure endpoints.
    pub azure: AzureEndpoints,
    /// GCP endpoints.
    pub gcp: GcpEndpoints,
}

/// `[clouds.aws]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsEndpoints {
    /// STS, for `AssumeRoleWithWebIdentity`.
    pub sts_endpoint: String,
    /// EC2; empty means the regional default.
    pub ec2_endpoint: String,
    /// RDS; empty means the regional default.
    pub rds_endpoint: String,
}

impl Default for AwsEndpoints {
    fn default() -> Self {
        Self {
            sts_endpoint: "https://sts.amazonaws.com".to_owned(),
            ec2_endpoint: String::new(),
            rds_endpoint: String::new(),
        }
    }
}

/// `[clouds.azure]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureEndpoints {
    /// Entra ID's authority.
    pub authority_host: String,
    /// Azure Resource Manager.
    pub management_endpoint: String,
}

impl Default for AzureEndpoints {
    fn default() -> Self {
        Self {
            authority_host: "https://login.microsoftonline.com".to_owned(),
            management_endpoint: "https://management.azure.com".to_owned(),
        }
    }
}

/// `[clouds.gcp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpEndpoints {
    /// Security Token Service.
    pub sts_endpoint: String,
    /// IAM Credentials, for `generateAccessToken`.
    pub iam_credentials_endpoint: String,
    /// Compute Engine.
    pub compute_endpoint: String,
    /// Cloud SQL Admin.
    pub sql_admin_endpoint: String,
}

impl Default for GcpEndpoints {
    fn default() -> Self {
        Self {
            sts_endpoint: "https://sts.googleapis.com".to_owned(),
            iam_credentials_endpoint: "https://iamcredentials.googleapis.com".to_owned(),
            compute_endpoint: "https://compute.googleapis.com".to_owned(),
            sql_admin_endpoint: "https://sqladmin.googleapis.com".to_owned(),
        }
    }
}

/// Command-line values that win over the file and the environment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `server.listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `server.admin_listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<SocketAddr>,
    /// `store.url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_url: Option<String>,
    /// `server.public_base_domain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_base_domain: Option<String>,
    /// `log.format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Loads the file (if any), then the environment, then `overrides`.
    ///
    /// Fails when the file cannot be read, a key is unknown, a value has the wrong type or
    /// the result is inconsistent (see [`Config::check`]).
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, Error> {
        Self::load_from(file, Env::prefixed("CREDLESS_").split("__"), overrides)
    }

    fn load_from(file: Option<&Path>, env: Env, overrides: &Overrides) -> Result<Self, Error> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(Error::Config(format!(
                    "configuration file {} does not exist or is not a file",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment
            .merge(env)
            .merge(Serialized::defaults(overrides_tree(overrides)));
        let config: Config = figment.extract().map_err(describe)?;
        config.check()?;
        Ok(config)
    }

    /// Checks what types alone cannot: non-zero limits, a sane base domain, one token source.
    pub fn check(&self) -> Result<(), Error> {
        let fail = |key: &str, why: &str| Err(Error::Config(format!("{key}: {why}")));
        let domain = &self.server.public_base_domain;
        if domain.is_empty()
            || domain.starts_with('.')
            || domain.ends_with('.')
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return fail(
                "server.public_base_domain",
                "must be a DNS name such as example.com",
            );
        }
        if self.server.listen == self.server.admin_listen && self.server.listen.port() != 0 {
            return fail("server.admin_listen", "must differ from server.listen");
        }
        if self.admin.token.is_some() && self.admin.token_file.is_some() {
            return fail(
                "admin.token",
                "set either admin.token or admin.token_file, not both",
            );
        }
        let limits = &self.limits;
        for (key, value) in [
            ("limits.header_read_timeout", limits.header_read_timeout),
            ("limits.body_read_timeout", limits.body_read_timeout),
            ("session.cache_ttl", self.session.cache_ttl),
            ("session.proxy_timeout", self.session.proxy_timeout),
        ] {
            if value.is_zero() {
                return fail(key, "must be longer than zero");
            }
        }
        if limits.max_header_bytes < 4096 {
            return fail("limits.max_header_bytes", "must be at least 4096");
        }
        if limits.max_body_bytes == 0 || limits.max_connections == 0 {
            return fail(
                "limits",
                "max_body_bytes and max_connections must be above zero",
            );
        }
        if !credless_registry::is_supported_store_url(&self.store.url) {
            return fail("store.url", "must be a `sqlite://` or `postgres://` URL");
        }
        Ok(())
    }
}

/// Nests the flat overrides the way the file spells them.
fn overrides_tree(o: &Overrides) -> serde_json::Value {
    let mut tree = serde_json::json!({});
    let mut set = |section: &str, key: &str, value: Option<serde_json::Value>| {
        if let Some(value) = value {
            tree[section][key] = value;
        }
    };
    set("server", "listen", o.listen.map(|v| json(&v)));
    set("server", "admin_listen", o.admin_listen.map(|v| json(&v)));
    set(
        "server",
        "public_base_domain",
        o.public_base_domain.as_ref().map(json),
    );
    set("store", "url", o.store_url.as_ref().map(json));
    set("log", "format", o.log_format.map(|v| json(&v)));
    tree
}

fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// Turns a figment error into one line naming the key, never echoing the value.
fn describe(error: figment::Error) -> Error {
    use figment::error::Kind;

    let key = if error.path.is_empty() {
        None
    } else {
        Some(error.path.join("."))
    };
    let what = match &error.kind {
        Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", kind_of(actual))
        }
        Kind::UnknownField(field, _) => {
            // figment's path already ends with the unknown field.
            let key = key.unwrap_or_else(|| field.clone());
            return Error::Config(format!("unknown key `{key}`{}", source_of(&error)));
        }
        Kind::UnknownVariant(_, expected) => format!("expected one of {}", expected.join(", ")),
        Kind::InvalidValue(_, expected) => format!("invalid value, expected {expected}"),
        Kind::Message(message) => message.clone(),
        other => other.to_string(),
    };
    match key {
        Some(key) => Error::Config(format!("{key}: {what}{}", source_of(&error))),
        None => Error::Config(format!("configuration: {what}{}", source_of(&error))),
    }
}

fn source_of(error: &figment::Error) -> String {
    match error.metadata.as_ref() {
        Some(meta) => match &meta.source {
            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
            _ => format!(" (from {})", meta.name),
        },
        None => String::new(),
    }
}

fn kind_of(actual: &figment::error::Actual) -> &'static str {
    use figment::error::Actual;
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another type",
    }
}

/// Deserializes `"30s"`, `"5m"`, `"1h 30m"`.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map_err(|_| serde::de::Error::custom("expected a duration such as \"30s\" or \"5m\""))
}

/// Hides the password of a URL such as `postgres://user:pass@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!(
                "{}://{user}:<redacted>@{}",
                &url[..scheme_end],
                &url[at + 1..]
            )
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
