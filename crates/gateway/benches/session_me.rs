//! Warm-cache `GET /api/v1/me` through Credless against a plain hyper server answering the
//! same bytes, measured side by side in one run, plus the memory one cached session costs.
//!
//! Run: `cargo bench -p credless-gateway --bench session_me` (optional arguments: seconds per
//! round, concurrent clients, sessions for the memory figure, rounds per server; defaults 2,
//! 16, 20000, 6). The two servers take turns, round by round, so that a machine whose speed
//! drifts (a busy neighbour, a shared host) slows both alike; the per-pair ratios are printed
//! too, to show how much the machine moved during the run.
//! Credless runs as `credless serve` does by default, with its log subscriber at `info`.
//! Targets: throughput ratio ≥ 0.8, memory per cached session ≤ 2 KiB.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark reports on stdout"
)]
#![allow(missing_docs, reason = "a benchmark binary")]

use std::alloc::System;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use credless_gateway::{AdminToken, Config, Gateway, Server};
use credless_registry::model::{Oidc, Tenant};
use credless_session::{SessionConfig, SessionValidator};
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const HOST: &str = "acme.localhost";

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(2);
    let clients = args.get(1).copied().unwrap_or(16) as usize;
    let sessions = args.get(2).copied().unwrap_or(20_000) as usize;
    let rounds = args.get(3).copied().unwrap_or(6).max(1) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(Duration::from_secs(seconds), clients, sessions, rounds));
}

async fn run(round: Duration, clients: usize, sessions: usize, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let idp = OidcProvider::start().await;
    let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;
    let (server, tenant) = gateway(&dir, &idp, &proxy).await;
    let cookie = OAuth2Proxy::cookie_header(&proxy.sign_in(User::demo()));

    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let credless_url = format!("http://{}/api/v1/me", server.public_addr());
    let reference = http
        .get(&credless_url)
        .header("host", HOST)
        .header("cookie", &cookie);
    let reference = reference.send().await.unwrap();
    assert_eq!(reference.status(), 200, "the warm-up request must succeed");
    let body = reference.bytes().await.unwrap();
    let plain_url = format!("http://{}/api/v1/me", plain_server(body.clone()).await);

    println!(
        "GET /api/v1/me, warm session cache, {clients} clients, {rounds} rounds of {round:?} each"
    );
    let (mut credless, mut plain) = (Load::default(), Load::default());
    let mut pair_ratios = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let ours = load(&http, &credless_url, &cookie, clients, round).await;
        let theirs = load(&http, &plain_url, &cookie, clients, round).await;
        pair_ratios.push(ours.rate() / theirs.rate());
        credless.add(ours);
        plain.add(theirs);
    }
    assert_eq!(
        proxy.auth_calls(),
        1,
        "the cache answered every measured request"
    );
    println!(
        "{:<16}{:>12}{:>12}{:>12}",
        "server", "req/s", "p50 µs", "p99 µs"
    );
    for (name, result) in [("credless", &mut credless), ("plain hyper", &mut plain)] {
        println!(
            "{name:<16}{:>12.0}{:>12}{:>12}",
            result.rate(),
            result.percentile(0.50),
            result.percentile(0.99)
        );
    }
    println!(
        "throughput ratio credless/plain: {:.2} (target ≥ 0.80)",
        credless.rate() / plain.rate()
    );
    let pairs: Vec<String> = pair_ratios.iter().map(|r| format!("{r:.2}")).collect();
    println!("  round by round: {}", pairs.join(" "));

    let per_session = memory_per_session(&tenant, &proxy, sessions).await;
    println!(
        "memory per cached session: {per_session} bytes over {sessions} sessions (target ≤ 2048)"
    );
    server.shutdown().await;
}

async fn gateway(
    dir: &tempfile::TempDir,
    idp: &OidcProvider,
    proxy: &OAuth2Proxy,
) -> (Server, Tenant) {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.admin_listen = "127.0.0.1:0".parse().unwrap();
    config.server.allow_insecure_upstreams = true;
    config.session.cache_ttl = Duration::from_secs(3600);
    // Credless as it runs by default: logging at `info`, to stderr.
    credless_gateway::telemetry::init(&config.log).unwrap();
    config.store.url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let registry = credless_gateway::open_registry(&config).await.unwrap();
    let tenant = Tenant {
        id: "acme".into(),
        admin_email: "ops@acme.example".into(),
        hostnames: vec![],
        proxy_url: proxy.url(),
        cookie_name: "_oauth2_proxy".into(),
        oidc: Oidc {
            issuer: idp.issuer(),
            audiences: vec!["credless-client".into()],
        },
        admin_groups: vec![],
    };
    let tenant = registry.create_tenant(tenant).await.unwrap();
    let token = AdminToken::new("bench-admin-token-0123456789");
    let gateway = Gateway::new(config, Arc::new(registry), token).unwrap();
    (Server::bind(gateway).await.unwrap(), tenant)
}

/// A hyper server that answers every request with `body`, as Credless's answer looks.
async fn plain_server(body: Bytes) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let body = body.clone();
            let service = service_fn(move |_req| {
                let response = http::Response::builder()
                    .header("content-type", "application/json")
                    .header("x-request-id", "00000000000000000000000000000000")
                    .body(Full::new(body.clone()))
                    .unwrap();
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[derive(Default)]
struct Load {
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

impl Load {
    fn add(&mut self, other: Load) {
        self.latencies_us.extend(other.latencies_us);
        self.elapsed += other.elapsed;
    }

    fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, q: f64) -> u32 {
        self.latencies_us.sort_unstable();
        let index = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        self.latencies_us.get(index).copied().unwrap_or(0)
    }
}

/// `clients` loops sending requests back to back for `round`.
async fn load(
    http: &reqwest::Client,
    url: &str,
    cookie: &str,
    clients: usize,
    round: Duration,
) -> Load {
    let started = Instant::now();
    let deadline = started + round;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, cookie) = (http.clone(), url.to_owned(), cookie.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let response = http
                        .get(&url)
                        .header("host", HOST)
                        .header("cookie", &cookie);
                    let response = response.send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    response.bytes().await.unwrap();
                    latencies.push(sent.elapsed().as_micros() as u32);
                }
                latencies
            })
        })
        .collect();
    let mut result = Load::default();
    for task in tasks {
        result.latencies_us.extend(task.await.unwrap());
    }
    result.elapsed = started.elapsed();
    result
}

/// Heap bytes one cached session costs: a validator of its own caches `count` distinct
/// sessions, then is dropped; the bytes its drop frees, divided by `count`, are what each
/// cached session held (its HTTP client and key cache are included, a constant share that
/// `count` makes negligible; the fake proxy's memory is outside the measurement).
async fn memory_per_session(tenant: &Tenant, proxy: &OAuth2Proxy, count: usize) -> usize {
    let config = SessionConfig {
        allow_insecure_upstreams: true,
        cache_ttl: Duration::from_secs(3600),
        ..SessionConfig::default()
    };
    let validator = SessionValidator::new(config).unwrap();
    let cookies: Vec<http::HeaderMap> = (0..count)
        .map(|i| {
            let user = User::new(format!("user-{i}"), format!("user-{i}@acme.example"))
                .with_groups(["engineers", "platform"]);
            let mut headers = http::HeaderMap::new();
            let value = OAuth2Proxy::cookie_header(&proxy.sign_in(user));
            headers.insert(http::header::COOKIE, value.parse().unwrap());
            headers
        })
        .collect();
    for headers in &cookies {
        validator.validate(tenant, headers).await.unwrap();
    }
    assert_eq!(
        validator.cached_sessions().await as usize,
        count,
        "every session was cached"
    );

    let region = Region::new(GLOBAL);
    drop(validator);
    let change = region.change();
    let freed = change.bytes_deallocated as isize - change.bytes_allocated as isize;
    freed.max(0) as usize / count.max(1)
}
