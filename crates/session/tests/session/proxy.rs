//! Talking to the tenant's proxy: what is sent, and how each answer is read.

use std::time::{Duration, SystemTime};

use credless_session::{ProxyFailure, SessionConfig, SessionError, SessionValidator};
use credless_testkit::{OAuth2Proxy, ProxyMode, ProxyOptions, User};
use http::HeaderValue;
use http::header::COOKIE;

use crate::support::{World, config, cookie_headers};

#[tokio::test]
async fn a_valid_session_yields_the_verified_identity() {
    let world = World::start().await;
    let user = User::new("alice-1", "alice@acme.example").with_groups(["ops", "dev"]);
    let headers = world.signed_in(user);

    let validated = world.validate(&headers).await.unwrap();

    let identity = &validated.identity;
    assert_eq!(identity.tenant, "acme");
    assert_eq!(identity.subject, "alice-1");
    assert_eq!(identity.email.as_deref(), Some("alice@acme.example"));
    assert_eq!(identity.preferred_username.as_deref(), Some("alice"));
    assert_eq!(identity.groups, ["ops", "dev"]);
    let left = identity
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(3000) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
    assert_eq!(identity.id_token.expose().split('.').count(), 3);
    assert!(validated.set_cookie.is_empty());
}

#[tokio::test]
async fn without_a_tenant_cookie_the_proxy_is_not_asked() {
    let world = World::start().await;

    let none = world.validate(&http::HeaderMap::new()).await;
    let foreign = world
        .validate(&cookie_headers("session=abc; _oauth2_proxy_csrf=x"))
        .await;

    assert!(matches!(none, Err(SessionError::NoSession)), "{none:?}");
    assert!(
        matches!(foreign, Err(SessionError::NoSession)),
        "{foreign:?}"
    );
    assert_eq!(world.proxy.auth_calls(), 0);
}

#[tokio::test]
async fn only_the_tenant_cookies_reach_the_proxy_even_when_split() {
    let options = ProxyOptions {
        split_cookies: true,
        ..ProxyOptions::default()
    };
    let world = World::with(config(), options).await;
    let session = world.proxy.sign_in(User::demo());
    assert!(
        session.len() > 1,
        "the session should be split into several cookies"
    );
    let mut headers = http::HeaderMap::new();
    headers.append(COOKIE, HeaderValue::from_static("theme=dark; tracking=1"));
    headers.append(
        COOKIE,
        OAuth2Proxy::cookie_header(&session).parse().unwrap(),
    );
    headers.append(COOKIE, HeaderValue::from_static("_oauth2_proxy_csrf=nonce"));
    for (name, value) in [
        ("authorization", "Bearer client-supplied"),
        ("x-forwarded-for", "10.0.0.1"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "for=10.0.0.1"),
        ("x-auth-request-user", "admin"),
        ("x-auth-request-email", "ops@acme.example"),
        ("x-original-uri", "/admin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }

    world.validate(&headers).await.unwrap();

    let requests = world.proxy.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/oauth2/auth");
    assert_eq!(requests[0].cookies(), session);
    for (name, _) in &requests[0].headers {
        let leaked = name == "authorization"
            || name == "forwarded"
            || ["x-forwarded-", "x-auth-request-", "x-original-"]
                .iter()
                .any(|p| name.starts_with(p));
        assert!(!leaked, "the client's {name} header reached the proxy");
    }
}

#[tokio::test]
async fn an_accept_without_identity_is_no_session() {
    let world = World::start().await;
    let headers = world.signed_in(User::demo());
    world.proxy.set_mode(ProxyMode::AcceptWithoutIdentity);

    let outcome = world.validate(&headers).await;

    assert!(
        matches!(outcome, Err(SessionError::NoSession)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_identity_without_an_id_token_is_a_bad_answer() {
    let world = World::start().await;
    let headers = world.signed_in(User::demo());
    world.proxy.set_id_token_override(Some(String::new()));

    let error = world.validate(&headers).await.unwrap_err();

    assert!(
        matches!(
            error,
            SessionError::ProxyUnavailable {
                kind: ProxyFailure::BadAnswer,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), 502);
}

#[tokio::test]
async fn a_revoked_session_is_no_session() {
    let world = World::start().await;
    let headers = world.signed_in(User::new("gone", "gone@acme.example"));
    world.proxy.revoke_user("gone");

    let error = world.validate(&headers).await.unwrap_err();

    assert!(matches!(error, SessionError::NoSession), "{error:?}");
    assert_eq!(
        (error.status().as_u16(), error.code()),
        (401, "login_required")
    );
}

#[tokio::test]
async fn a_refusal_by_the_proxy_is_forbidden() {
    let world = World::start().await;
    let headers = world.signed_in(User::demo());
    world.proxy.set_mode(ProxyMode::Status(403));

    let error = world.validate(&headers).await.unwrap_err();

    assert!(matches!(error, SessionError::Forbidden), "{error:?}");
    assert_eq!((error.status().as_u16(), error.code()), (403, "forbidden"));
}

#[tokio::test]
async fn each_proxy_failure_is_refused_with_its_status() {
    let fast = SessionConfig {
        proxy_timeout: Duration::from_millis(300),
        ..config()
    };
    let world = World::with_config(fast).await;
    let headers = world.signed_in(User::demo());
    let cases = [
        (ProxyMode::Unavailable503, ProxyFailure::BadAnswer, 502),
        (ProxyMode::Status(500), ProxyFailure::BadAnswer, 502),
        (ProxyMode::Status(200), ProxyFailure::BadAnswer, 502),
        (ProxyMode::Garbage, ProxyFailure::BadAnswer, 502),
        (ProxyMode::Redirect, ProxyFailure::BadAnswer, 502),
        (
            ProxyMode::Hang(Duration::from_secs(5)),
            ProxyFailure::Timeout,
            504,
        ),
    ];

    for (mode, expected, status) in cases {
        world.proxy.set_mode(mode);
        let outcome = world.validate(&headers).await;
        match outcome {
            Err(ref error @ SessionError::ProxyUnavailable { kind, .. }) => {
                assert_eq!(kind, expected, "{mode:?}");
                assert_eq!(error.status(), status, "{mode:?}");
                assert_eq!(error.code(), "proxy_unavailable");
            }
            other => panic!("{mode:?} gave {other:?}"),
        }
    }
    let followed = world
        .proxy
        .requests()
        .iter()
        .any(|r| r.path == "/__followed_redirect");
    assert!(!followed, "the redirect was followed");
}

#[tokio::test]
async fn an_unreachable_proxy_is_503() {
    let world = World::start().await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let mut tenant = (*world.tenant).clone();
    tenant.proxy_url = format!("http://{address}");

    let outcome = world
        .validator
        .validate(&tenant, &cookie_headers("_oauth2_proxy=x"))
        .await;

    let error = outcome.unwrap_err();
    assert!(
        matches!(
            error,
            SessionError::ProxyUnavailable {
                kind: ProxyFailure::Unreachable,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), 503);
}

#[tokio::test]
async fn an_insecure_proxy_url_is_never_called_unless_allowed() {
    let world = World::start().await;
    let strict = SessionValidator::new(SessionConfig::default()).unwrap();
    let headers = world.signed_in(User::demo());

    let outcome = strict.validate(&world.tenant, &headers).await;

    assert!(
        matches!(outcome, Err(SessionError::InsecureUpstream { .. })),
        "{outcome:?}"
    );
    assert_eq!(world.proxy.auth_calls(), 0);
}

#[tokio::test]
async fn a_refreshed_cookie_is_relayed_once() {
    let world = World::start().await;
    let headers = world.signed_in(User::demo());
    world.proxy.set_refresh(true);

    let first = world.validate(&headers).await.unwrap();
    let cached = world.validate(&headers).await.unwrap();

    assert!(!first.set_cookie.is_empty());
    let cookie = first.set_cookie[0].to_str().unwrap();
    assert!(cookie.starts_with("_oauth2_proxy="), "{cookie}");
    assert!(
        cached.set_cookie.is_empty(),
        "a cached answer must not replay a Set-Cookie"
    );
    assert_eq!(world.proxy.auth_calls(), 1);
}
