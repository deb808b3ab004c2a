//! The public listener over real sockets: host routing, ambiguous requests, limits, request
//! ids, connection cap and graceful shutdown.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::{TestGateway, problem, raw, status_of, tenant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn requests_reach_the_tenant_of_their_host_and_no_other() {
    let gw = TestGateway::start().await;
    gw.create_tenant(&tenant("acme", &["cloud.acme.example"]))
        .await;

    for host in [
        "cloud.acme.example",
        "CLOUD.ACME.EXAMPLE:8080",
        "cloud.acme.example.",
        "acme.credless.test",
    ] {
        // A known tenant: its API asks for a session.
        let (status, body) = problem(gw.get_host(host, "/api/v1/me").await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("login_required")),
            "{host}"
        );
    }
    for host in [
        "cloud.acme.example.evil.net",
        "xcloud.acme.example",
        "evil.cloud.acme.example",
        "x.acme.credless.test",
        "acme.credless.test.evil.net",
        "other.credless.test",
        "127.0.0.1",
    ] {
        let (status, body) = problem(gw.get_host(host, "/").await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("unknown_host")),
            "{host}"
        );
    }
}

#[tokio::test]
async fn ambiguous_hosts_and_paths_get_400() {
    let gw = TestGateway::start().await;
    gw.create_tenant(&tenant("acme", &["cloud.acme.example"]))
        .await;
    let addr = gw.server.public_addr();

    let no_host = raw(addr, b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status_of(&no_host), 400, "{no_host}");
    assert!(no_host.contains("application/problem+json"));

    let two = b"GET / HTTP/1.1\r\nHost: cloud.acme.example\r\nHost: evil.example\r\n\
        Connection: close\r\n\r\n";
    assert_eq!(status_of(&raw(addr, two).await), 400);

    let absolute = b"GET http://evil.example/ HTTP/1.1\r\nHost: cloud.acme.example\r\n\
        Connection: close\r\n\r\n";
    assert_eq!(status_of(&raw(addr, absolute).await), 400);

    let slash =
        b"GET /oauth2%2fstart HTTP/1.1\r\nHost: cloud.acme.example\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&raw(addr, slash).await), 400);
}

#[tokio::test]
async fn every_response_carries_a_distinct_request_id() {
    let gw = TestGateway::start().await;
    let mut seen = HashSet::new();
    for url in [
        gw.public("/"),
        gw.admin("/livez"),
        gw.admin("/admin/v1/tenants"),
        gw.admin("/nope"),
    ] {
        let response = gw
            .http
            .get(&url)
            .header("host", "x.example")
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 32, "{url}");
        assert!(seen.insert(id), "request ids repeat");
    }
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let gw = TestGateway::start().await;
    let big = "a".repeat(40 * 1024);
    let response = gw
        .http
        .get(gw.public("/"))
        .header("host", "x.example")
        .header("x-big", &big)
        .send();
    let response = response.await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(problem(response).await.0, 431);

    // Far past the limit hyper refuses the block before it is buffered.
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x.example\r\nX-Huge: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    assert_eq!(
        status_of(&raw(gw.server.public_addr(), huge.as_bytes()).await),
        431
    );
}

#[tokio::test]
async fn more_than_100_header_fields_get_431() {
    let gw = TestGateway::start().await;
    let request = |fields: usize| {
        let extra: String = (0..fields).map(|i| format!("X-Field-{i}: v\r\n")).collect();
        format!("GET /livez HTTP/1.1\r\nHost: x.example\r\n{extra}Connection: close\r\n\r\n")
    };

    // 2 + 90 fields are served (an unknown host, so 404); 2 + 120 are refused before routing.
    let served = raw(gw.server.public_addr(), request(90).as_bytes()).await;
    assert_eq!(status_of(&served), 404);
    let refused = raw(gw.server.public_addr(), request(120).as_bytes()).await;
    assert_eq!(status_of(&refused), 431);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let gw = TestGateway::start().await;
    let body = vec![b' '; 1024 * 1024 + 1];
    let response = gw
        .http
        .post(gw.admin("/admin/v1/tenants"))
        .bearer_auth(support::TOKEN)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (status, problem_body) = problem(response).await;
    assert_eq!(
        (status, problem_body["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    // A chunked body has no declared length: it is cut off while being read.
    let mut stream = TcpStream::connect(gw.server.admin_addr()).await.unwrap();
    let head = format!(
        "POST /admin/v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        support::TOKEN
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
    for _ in 0..17 {
        // The gateway may answer and close before everything is sent.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert_eq!(status_of(&String::from_utf8_lossy(&buf)), 413);
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_disconnected() {
    let gw = TestGateway::start_with(|c| c.limits.header_read_timeout = Duration::from_millis(300))
        .await;
    for opening in [&b""[..], &b"GET / HTTP/1.1\r\nHost: x.exa"[..]] {
        let mut stream = TcpStream::connect(gw.server.public_addr()).await.unwrap();
        stream.write_all(opening).await.unwrap();
        let mut buf = Vec::new();
        // The bound only keeps a broken server from hanging the test.
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
            .await
            .expect("the server kept a silent connection open");
        assert!(closed.is_ok() || buf.is_empty());
    }
}

#[tokio::test]
async fn a_slow_body_is_cut_off() {
    let gw =
        TestGateway::start_with(|c| c.limits.body_read_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(gw.server.admin_addr()).await.unwrap();
    let head = format!(
        "POST /admin/v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 100\r\n\r\n{{",
        support::TOKEN
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), 408);
}

#[tokio::test]
async fn connections_over_the_cap_wait_for_a_free_slot() {
    let gw = TestGateway::start_with(|c| c.limits.max_connections = 1).await;
    let addr = gw.server.public_addr();
    let holder = TcpStream::connect(addr).await.unwrap();
    // Let the gateway accept the first connection before the second arrives.
    let mut probe = TcpStream::connect(addr).await.unwrap();
    probe
        .write_all(b"GET / HTTP/1.1\r\nHost: x.example\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let waited =
        tokio::time::timeout(Duration::from_millis(500), probe.read_to_end(&mut buf)).await;
    assert!(
        waited.is_err() && buf.is_empty(),
        "served past the connection cap"
    );

    drop(holder);
    let served = tokio::time::timeout(Duration::from_secs(10), probe.read_to_end(&mut buf)).await;
    assert!(served.is_ok());
    assert_eq!(status_of(&String::from_utf8_lossy(&buf)), 404);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let gw = TestGateway::start().await;
    let addr = gw.server.admin_addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = serde_json::to_string(&tenant("acme", &[])).unwrap();
    let head = format!(
        "POST /admin/v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {}\r\n\r\n",
        support::TOKEN,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..1]).await.unwrap();
    support::eventually("the request is being read", || {
        gw.server.gateway().in_flight() == 1
    })
    .await;

    let TestGateway {
        server,
        http,
        dir: _dir,
    } = gw;
    let public = server.public_addr();
    let shutdown = tokio::spawn(server.shutdown());
    stream.write_all(&body.as_bytes()[1..]).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        status_of(&String::from_utf8_lossy(&buf)),
        201,
        "in-flight request was dropped"
    );

    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .unwrap()
        .unwrap();
    assert!(
        http.get(format!("http://{public}/")).send().await.is_err(),
        "still accepting"
    );
}
