//! What the gateway logs about requests at the default `info` level.
//!
//! Alone in its test binary: a subscriber set for one thread while other tests' threads
//! register the same log call sites can miss lines (tracing caches each call site's interest
//! process-wide), so no other test may run beside this one.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use credless_testkit::{LogBuffer, OAuth2Proxy, ProxyMode, User};
use support::AcmeGateway;

const HOST: &str = "acme.credless.test";

#[tokio::test]
async fn at_info_a_refusal_names_its_request_and_a_warm_request_writes_nothing() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    // The test's runtime runs on this thread, and so do the gateway's tasks.
    let _guard = tracing::subscriber::set_default(subscriber);
    let AcmeGateway {
        gw,
        idp: _idp,
        proxy,
    } = AcmeGateway::start().await;
    let me = |user: User| {
        gw.http
            .get(gw.public("/api/v1/me"))
            .header("host", HOST)
            .header("cookie", OAuth2Proxy::cookie_header(&proxy.sign_in(user)))
            .send()
    };
    let alice = User::demo();
    assert_eq!(me(alice.clone()).await.unwrap().status(), 200);

    let before = logs.contents().lines().count();
    assert_eq!(me(alice).await.unwrap().status(), 200);
    let lines = logs.contents();
    let added: Vec<&str> = lines.lines().skip(before).collect();
    assert!(added.is_empty(), "a warm request logs at info: {added:?}");

    proxy.set_mode(ProxyMode::Status(500));
    let refused = me(User::new("mallory", "mallory@acme.example"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);
    let id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let logs = logs.contents();
    let line = logs
        .lines()
        .find(|line| line.contains("session refused"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{logs}"));
    assert!(line.contains(&format!("request.id={id}")), "{line}");
    assert!(line.contains("tenant.id=acme"), "{line}");
}
