//! A gateway on real sockets (port 0) over a temporary store, and small raw-HTTP helpers.

#![allow(dead_code, reason = "each test binary uses part of the support module")]

use std::net::SocketAddr;
use std::time::Duration;

use credless_gateway::{AdminToken, Config, Gateway, Server};
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const TOKEN: &str = "test-admin-token-0123456789";

pub(crate) struct TestGateway {
    pub(crate) server: Server,
    pub(crate) http: reqwest::Client,
    pub(crate) dir: tempfile::TempDir,
}

impl TestGateway {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub(crate) async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().expect("addr");
        config.server.admin_listen = "127.0.0.1:0".parse().expect("addr");
        config.server.public_base_domain = "credless.test".into();
        config.store.url = format!("sqlite://{}", dir.path().join("credless.db").display());
        tweak(&mut config);
        Self::start_in(dir, config).await
    }

    pub(crate) async fn start_in(dir: tempfile::TempDir, config: Config) -> Self {
        let registry = credless_gateway::open_registry(&config)
            .await
            .expect("registry");
        let gateway =
            Gateway::new(config, registry.into(), AdminToken::new(TOKEN)).expect("gateway");
        let server = Server::bind(gateway).await.expect("bind");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Self { server, http, dir }
    }

    pub(crate) fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.admin_addr())
    }

    pub(crate) fn public(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.public_addr())
    }

    pub(crate) async fn create_tenant(&self, tenant: &Value) -> reqwest::Response {
        self.http
            .post(self.admin("/admin/v1/tenants"))
            .bearer_auth(TOKEN)
            .json(tenant)
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn get_host(&self, host: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.public(path))
            .header("host", host)
            .send()
            .await
            .expect("request")
    }
}

/// A gateway serving tenant `acme` (at `acme.<base domain>`), whose users sign in through the
/// testkit's IdP and oauth2-proxy.
pub(crate) struct AcmeGateway {
    pub(crate) gw: TestGateway,
    pub(crate) idp: OidcProvider,
    pub(crate) proxy: OAuth2Proxy,
}

impl AcmeGateway {
    pub(crate) async fn start() -> Self {
        let idp = OidcProvider::start().await;
        let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;
        let gw = TestGateway::start_with(|c| c.server.allow_insecure_upstreams = true).await;
        let tenant = json!({
            "id": "acme",
            "admin_email": "ops@acme.example",
            "proxy_url": proxy.url(),
            "oidc": { "issuer": idp.issuer(), "audiences": ["credless-client"] }
        });
        assert_eq!(gw.create_tenant(&tenant).await.status(), 201);
        Self { gw, idp, proxy }
    }
}

pub(crate) fn tenant(id: &str, hostnames: &[&str]) -> Value {
    json!({
        "id": id,
        "admin_email": format!("ops@{id}.example"),
        "hostnames": hostnames,
        "proxy_url": format!("https://auth.{id}.example"),
        "oidc": { "issuer": format!("https://id.{id}.example/"), "audiences": ["credless"] }
    })
}

/// Sends raw bytes and reads until the server closes or `limit` passes.
pub(crate) async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 response.
pub(crate) fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub(crate) async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(kind, "application/problem+json", "status {status}");
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["status"], status);
    for member in ["type", "title", "detail", "code"] {
        assert!(body[member].is_string(), "problem without {member}: {body}");
    }
    (status, body)
}

/// Polls `condition` until it holds, failing the test after ten seconds.
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
