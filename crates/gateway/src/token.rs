//! The operator token: where it comes from and how it is compared.
//!
//! Only a SHA-256 digest of the token is kept in memory, and a presented token is compared by
//! digest in constant time, so neither its content nor its length leaks through timing.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{SHA256, digest};
use subtle::ConstantTimeEq;

use crate::config::AdminConfig;
use crate::error::Error;

/// Tokens shorter than this are refused: they could be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// The file a generated token is written to, in the working directory.
pub const GENERATED_TOKEN_FILE: &str = "credless-admin-token";

/// The digest of the operator token.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

/// Where the operator token came from, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `admin.token` (usually `CREDLESS_ADMIN__TOKEN`).
    Config,
    /// `admin.token_file`.
    File(PathBuf),
    /// Generated at first start and kept in this file (mode 0600).
    Generated(PathBuf),
    /// Read from a file generated at an earlier start.
    Reused(PathBuf),
}

impl AdminToken {
    /// Wraps a token given directly.
    pub fn new(token: &str) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        Self { digest: out }
    }

    /// Obtains the token as configured; with none configured, reuses or generates
    /// `credless-admin-token` in `dir`.
    ///
    /// Fails when a file cannot be read or written, or the token is too short.
    pub fn from_config(config: &AdminConfig, dir: &Path) -> Result<(Self, TokenSource), Error> {
        if let Some(token) = &config.token {
            return Ok((checked(token.trim(), "admin.token")?, TokenSource::Config));
        }
        if let Some(path) = &config.token_file {
            let token = read(path)?;
            return Ok((
                checked(token.trim(), "admin.token_file")?,
                TokenSource::File(path.clone()),
            ));
        }
        let path = dir.join(GENERATED_TOKEN_FILE);
        if path.exists() {
            let token = read(&path)?;
            return Ok((
                checked(token.trim(), "admin.token_file")?,
                TokenSource::Reused(path),
            ));
        }
        let token = generate()?;
        write_private(&path, &token)?;
        Ok((Self::new(&token), TokenSource::Generated(path)))
    }

    /// Whether an `Authorization` header value carries this token, in constant time.
    pub fn matches(&self, authorization: Option<&http::HeaderValue>) -> bool {
        let presented = authorization
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .unwrap_or_default();
        let candidate = Self::new(presented);
        bool::from(self.digest.ct_eq(&candidate.digest)) && !presented.is_empty()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

fn checked(token: &str, key: &'static str) -> Result<AdminToken, Error> {
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(Error::WeakToken { key });
    }
    Ok(AdminToken::new(token))
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::TokenFile {
        path: path.into(),
        source,
    })
}

/// 32 random bytes, hex-encoded.
fn generate() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, token: &str) -> Result<(), Error> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;

    let io = |source| Error::TokenFile {
        path: path.into(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(io)?;
    writeln!(file, "{token}").map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_bearer_token() {
        let token = AdminToken::new("0123456789abcdef-secret");
        let header = |v: &str| http::HeaderValue::from_str(v).ok();
        assert!(token.matches(header("Bearer 0123456789abcdef-secret").as_ref()));
        assert!(!token.matches(header("Bearer 0123456789abcdef-secreT").as_ref()));
        assert!(!token.matches(header("Basic 0123456789abcdef-secret").as_ref()));
        assert!(!token.matches(header("Bearer ").as_ref()));
        assert!(!token.matches(None));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", AdminToken::new("0123456789abcdef-secret"));
        assert!(!shown.contains("secret") && shown.contains("redacted"));
    }

    #[test]
    fn generated_token_is_written_privately_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AdminConfig::default();
        let (first, source) = AdminToken::from_config(&config, dir.path()).expect("generated");
        assert!(matches!(source, TokenSource::Generated(_)));
        let written = std::fs::read_to_string(dir.path().join(GENERATED_TOKEN_FILE)).expect("file");
        assert_eq!(written.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir.path().join(GENERATED_TOKEN_FILE)).expect("meta");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        let (again, source) = AdminToken::from_config(&config, dir.path()).expect("reused");
        assert!(matches!(source, TokenSource::Reused(_)));
        assert_eq!(first.digest, again.digest);
    }

    #[test]
    fn short_tokens_are_refused() {
        let config = AdminConfig {
            token: Some("short".into()),
            token_file: None,
        };
        let error = AdminToken::from_config(&config, Path::new(".")).expect_err("too short");
        assert!(error.to_string().starts_with("admin.token:"));
    }
}
