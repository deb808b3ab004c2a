#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use http::Request;
use http_body_util::Full;

use super::*;

fn parts(uri: &str, hosts: &[&str]) -> Parts {
    let mut builder = Request::builder().uri(uri);
    for host in hosts {
        builder = builder.header(HOST, *host);
    }
    builder.body(()).unwrap().into_parts().0
}

#[test]
fn paths_are_normalised() {
    for (raw, expected) in [
        ("/", "/"),
        ("/api/v1/me", "/api/v1/me"),
        ("/api/./v1/me", "/api/v1/me"),
        ("/api/x/../v1/me", "/api/v1/me"),
        ("/api/%2e%2e/oauth2/start", "/oauth2/start"),
        ("/api/%2E/me", "/api/me"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("//oauth2//start", "/oauth2/start"),
        ("/a/b/", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/..", "/"),
        ("/a%20b", "/a%20b"),
    ] {
        assert_eq!(normalize_path(raw).unwrap(), expected, "{raw}");
    }
}

#[test]
fn encoded_slashes_and_backslashes_are_refused() {
    for raw in [
        "/oauth2%2fstart",
        "/a%2Fb",
        "/a%5cb",
        "/a\\b",
        "/a%00",
        "*",
        "oauth2",
    ] {
        let problem = normalize_path(raw).unwrap_err();
        assert_eq!(problem.status(), http::StatusCode::BAD_REQUEST, "{raw}");
        assert_eq!(problem.code(), "invalid_request");
    }
}

#[test]
fn host_must_be_single_and_agree_with_the_target() {
    assert_eq!(
        host(&parts("/x", &["Acme.Example.com:8080"])).unwrap(),
        "acme.example.com:8080"
    );
    assert!(host(&parts("/x", &[])).is_err());
    assert!(host(&parts("/x", &["a.example.com", "b.example.com"])).is_err());
    assert!(host(&parts("http://b.example.com/x", &["a.example.com"])).is_err());
    assert!(host(&parts("http://a.example.com:80/x", &["A.example.com."])).is_ok());
}

#[test]
fn header_blocks_over_the_limit_are_refused() {
    let small = parts("/x", &["a.example.com"]);
    assert!(check_header_size(&small, 4096).is_ok());
    let mut big = small.clone();
    big.headers
        .insert("x-big", "a".repeat(5000).parse().unwrap());
    let problem = check_header_size(&big, 4096).unwrap_err();
    assert_eq!(
        problem.status(),
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[test]
fn declared_lengths_are_checked() {
    let mut headers = HeaderMap::new();
    assert!(check_declared_length(&headers, 10).is_ok());
    headers.insert(CONTENT_LENGTH, "11".parse().unwrap());
    assert_eq!(
        check_declared_length(&headers, 10).unwrap_err().code(),
        "payload_too_large"
    );
    headers.insert(CONTENT_LENGTH, "ten".parse().unwrap());
    assert_eq!(
        check_declared_length(&headers, 10).unwrap_err().code(),
        "invalid_request"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let body = Full::new(Bytes::from(vec![b'x'; 11]));
    let problem = read_body(body, 10, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(problem.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    let body = Full::new(Bytes::from_static(b"{}"));
    assert_eq!(
        read_body(body, 10, Duration::from_secs(1)).await.unwrap(),
        "{}"
    );
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.7".parse().unwrap());
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
    let proxy: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let stranger: SocketAddr = "198.51.100.4:5000".parse().unwrap();
    assert_eq!(
        client_addr(proxy, &headers, &trusted).to_string(),
        "203.0.113.9"
    );
    assert_eq!(
        client_addr(stranger, &headers, &trusted).to_string(),
        "198.51.100.4"
    );
    assert_eq!(client_addr(proxy, &headers, &[]).to_string(), "10.0.0.2");
}

#[test]
fn request_ids_are_32_lowercase_hex_digits_and_unique() {
    let first = new_request_id();
    let second = new_request_id();

    for id in [first.as_str(), second.as_str()] {
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{id}"
        );
    }
    assert_ne!(first, second);
    assert_eq!(
        first.as_str()[..16],
        second.as_str()[..16],
        "one prefix per process"
    );
}
