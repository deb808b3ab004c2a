//! The outbound HTTP client every Credless call to a tenant's upstream goes through.
//!
//! Upstreams are configured by tenants, so the client treats them as untrusted: it follows no
//! redirects, ignores proxy environment variables, has connect and total timeouts, and, unless
//! insecure upstreams are allowed, calls only `https` URLs and refuses any hostname that
//! resolves to a loopback, private, link-local or metadata address.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use credless_registry::is_internal_address;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::SessionError;

/// How the outbound client behaves.
#[derive(Debug, Clone)]
pub struct OutboundOptions {
    /// Longest wait for a TCP and TLS connection.
    pub connect_timeout: Duration,
    /// Longest wait for a whole call, from sending to the end of the response body.
    pub timeout: Duration,
    /// Allow `http://` and internal addresses (local development and tests only).
    pub allow_insecure_upstreams: bool,
}

impl Default for OutboundOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            allow_insecure_upstreams: false,
        }
    }
}

/// Builds a client that follows no redirects, uses no proxy and guards name resolution.
///
/// Fails with [`SessionError::Client`] only when the TLS backend cannot start.
pub fn client(options: &OutboundOptions) -> Result<reqwest::Client, SessionError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(options.connect_timeout)
        .timeout(options.timeout)
        .user_agent(concat!("credless/", env!("CARGO_PKG_VERSION")));
    if !options.allow_insecure_upstreams {
        builder = builder
            .https_only(true)
            .dns_resolver(Arc::new(GuardedResolver));
    }
    builder
        .build()
        .map_err(|error| SessionError::Client(Arc::new(error)))
}

/// Parses an upstream URL and checks it before any call: `https` (or `http` when insecure
/// upstreams are allowed), a host, and no internal IP literal unless allowed.
///
/// Fails with [`SessionError::InsecureUpstream`]. Hostnames are checked later, when the
/// client resolves them.
pub fn check_upstream(url: &str, allow_insecure: bool) -> Result<Url, SessionError> {
    let refuse = |reason| SessionError::InsecureUpstream { reason };
    let parsed = Url::parse(url).map_err(|_| refuse("the upstream URL is not a valid URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Err(refuse("the upstream URL is not https")),
    }
    let internal = match parsed.host() {
        None => return Err(refuse("the upstream URL has no host")),
        Some(Host::Ipv4(ip)) => is_internal_address(ip.into()),
        Some(Host::Ipv6(ip)) => is_internal_address(ip.into()),
        Some(Host::Domain(_)) => false,
    };
    if internal && !allow_insecure {
        return Err(refuse("the upstream URL names an internal address"));
    }
    Ok(parsed)
}

/// Whether a client error came from refusing a name that resolves to an internal address.
pub fn is_refused_address(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(current) = source {
        if current.is::<InternalAddress>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// The resolver error for a name that resolves to an internal address.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to an internal address")]
struct InternalAddress {
    host: String,
}

/// The system resolver, refusing names with any internal address among their answers.
///
/// Refusing the whole name (rather than dropping the internal answers) keeps a name that
/// mixes public and internal records from reaching the internal one on a retry.
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.iter().any(|addr| is_internal_address(addr.ip())) {
                tracing::info!(upstream.host = %host, "refused an upstream resolving internally");
                return Err(Box::new(InternalAddress { host }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn plain_http_and_internal_literals_are_refused_unless_allowed() {
        for url in [
            "http://auth.example.com",
            "https://127.0.0.1/",
            "https://[::1]:8443",
        ] {
            assert!(check_upstream(url, false).is_err(), "{url}");
        }
        assert!(check_upstream("https://169.254.169.254/latest", false).is_err());
        assert!(check_upstream("ftp://auth.example.com", true).is_err());
        assert!(check_upstream("http://127.0.0.1:4180", true).is_ok());
        assert!(check_upstream("https://auth.example.com/", false).is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_when_called() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let guarded = client(&OutboundOptions::default()).unwrap();

        // https_only would refuse http before resolving; use https to reach the resolver.
        let error = guarded
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();

        assert!(is_refused_address(&error), "{error:?}");
    }

    #[tokio::test]
    async fn an_insecure_client_calls_loopback_and_does_not_follow_redirects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).await.unwrap();
            let answer = "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n\
                          Content-Length: 0\r\nConnection: close\r\n\r\n";
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        let options = OutboundOptions {
            allow_insecure_upstreams: true,
            ..Default::default()
        };

        let response = client(&options)
            .unwrap()
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .unwrap();

        assert_eq!(response.status(), 302);
    }
}
