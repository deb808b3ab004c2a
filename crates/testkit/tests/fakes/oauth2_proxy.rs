//! The fake oauth2-proxy: the sign-in dance, /oauth2/auth, cookies, sign-out and its modes.

use std::time::Duration;

use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyMode, ProxyOptions, User};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::{client, fetch_jwks, location, set_cookies, verify};

async fn start(options: ProxyOptions) -> (OidcProvider, OAuth2Proxy) {
    let provider = OidcProvider::start().await;
    let proxy = OAuth2Proxy::start(&provider, options).await;
    (provider, proxy)
}

async fn auth(proxy: &OAuth2Proxy, query: &str, cookies: &[(String, String)]) -> reqwest::Response {
    let mut request = client().get(format!("{}/oauth2/auth{query}", proxy.url()));
    if !cookies.is_empty() {
        request = request.header("cookie", OAuth2Proxy::cookie_header(cookies));
    }
    request.send().await.unwrap()
}

/// The name/value pairs of `Set-Cookie` values, ignoring attributes.
fn pairs(set_cookies: &[String]) -> Vec<(String, String)> {
    set_cookies
        .iter()
        .filter_map(|line| line.split(';').next()?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Runs start → authorize → callback as a browser would and returns the cookies set at the end.
async fn sign_in_dance(proxy: &OAuth2Proxy, rd: &str) -> Vec<String> {
    let start = client()
        .get(format!("{}/oauth2/start?rd={rd}", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::FOUND);
    let csrf = pairs(&set_cookies(&start));
    let at_idp = client().get(location(&start)).send().await.unwrap();
    assert_eq!(at_idp.status(), StatusCode::FOUND);
    let callback = client()
        .get(location(&at_idp))
        .header("cookie", OAuth2Proxy::cookie_header(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), StatusCode::FOUND);
    assert_eq!(location(&callback), rd);
    set_cookies(&callback)
}

#[tokio::test]
async fn the_sign_in_dance_ends_in_a_session_that_auth_accepts() {
    let (provider, proxy) = start(ProxyOptions::default()).await;
    let erin = User::new("erin", "erin@acme.example").with_groups(["platform", "web"]);
    provider.set_next_user(erin);

    let start = client()
        .get(format!("{}/oauth2/start?rd=/app", proxy.url()))
        .send()
        .await
        .unwrap();
    let authorize = Url::parse(&location(&start)).unwrap();
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert!(location(&start).starts_with(&format!("{}/authorize?", provider.issuer())));
    assert_eq!(query["client_id"], "credless-client");
    assert_eq!(
        query["redirect_uri"],
        format!("{}/oauth2/callback", proxy.url())
    );
    assert!(query["state"].ends_with(":/app"));
    let csrf = set_cookies(&start);
    assert!(csrf[0].starts_with("_oauth2_proxy_csrf="), "{csrf:?}");

    let cookies = sign_in_dance(&proxy, "/app").await;
    let session = cookies
        .iter()
        .find(|line| line.starts_with("_oauth2_proxy="))
        .unwrap();
    assert!(
        session.ends_with("; Path=/; HttpOnly; Secure; SameSite=Lax"),
        "{session}"
    );
    assert!(
        cookies
            .iter()
            .any(|line| line.starts_with("_oauth2_proxy_csrf=; Max-Age=0"))
    );

    let session_pair: Vec<_> = pairs(&cookies)
        .into_iter()
        .filter(|(n, _)| n == "_oauth2_proxy")
        .collect();
    let response = auth(&proxy, "", &session_pair).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let headers = response.headers();
    assert_eq!(headers["x-auth-request-user"], "erin");
    assert_eq!(headers["x-auth-request-email"], "erin@acme.example");
    assert_eq!(headers["x-auth-request-preferred-username"], "erin");
    assert_eq!(headers["x-auth-request-groups"], "platform,web");
    assert_eq!(headers["gap-auth"], "erin@acme.example");
    let bearer = headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap();
    let jwks = fetch_jwks(&provider.jwks_uri()).await;
    let claims = verify(&jwks, bearer, &provider.issuer(), "credless-client").unwrap();
    assert_eq!(claims["sub"], "erin");
}

#[tokio::test]
async fn behind_a_gateway_the_callback_uses_the_forwarded_host() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;

    let start = client()
        .get(format!("{}/oauth2/start?rd=/x", proxy.url()))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "cloud.acme.example")
        .send()
        .await
        .unwrap();

    let authorize = Url::parse(&location(&start)).unwrap();
    let redirect_uri = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1;
    assert_eq!(redirect_uri, "https://cloud.acme.example/oauth2/callback");
}

#[tokio::test]
async fn unsafe_rd_falls_back_to_the_root() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;

    let cookies = sign_in_dance(&proxy, "/").await;
    assert!(!cookies.is_empty());
    let start = client()
        .get(format!("{}/oauth2/start?rd=//evil.example", proxy.url()))
        .send()
        .await
        .unwrap();
    assert!(location(&start).contains("state=") && location(&start).ends_with("%3A%2F"));
}

#[tokio::test]
async fn a_callback_without_the_csrf_cookie_is_refused() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;
    let start = client()
        .get(format!("{}/oauth2/start?rd=/app", proxy.url()))
        .send()
        .await
        .unwrap();
    let at_idp = client().get(location(&start)).send().await.unwrap();

    let callback = client().get(location(&at_idp)).send().await.unwrap();

    assert_eq!(callback.status(), StatusCode::FORBIDDEN);
    assert!(set_cookies(&callback).is_empty());
    assert_eq!(proxy.session_count(), 0);
}

#[tokio::test]
async fn auth_without_a_session_is_401_and_a_dead_cookie_is_cleared() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;

    assert_eq!(
        auth(&proxy, "", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let stale = [("_oauth2_proxy".to_owned(), "no-such-session".to_owned())];
    let response = auth(&proxy, "", &stale).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookies(&response)[0].starts_with("_oauth2_proxy=; Max-Age=0"));

    let other_name = [("session".to_owned(), "x".to_owned())];
    assert_eq!(
        auth(&proxy, "", &other_name).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn query_constraints_give_403_unless_one_value_matches() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;
    let cookies = proxy.sign_in(User::new("dan", "dan@acme.example").with_groups(["web"]));

    let cases = [
        ("?allowed_groups=platform", StatusCode::FORBIDDEN),
        ("?allowed_groups=platform,web", StatusCode::ACCEPTED),
        (
            "?allowed_groups=platform&allowed_groups=web",
            StatusCode::ACCEPTED,
        ),
        ("?allowed_emails=eve@acme.example", StatusCode::FORBIDDEN),
        (
            "?allowed_emails=eve@acme.example,dan@acme.example",
            StatusCode::ACCEPTED,
        ),
        (
            "?allowed_groups=web&allowed_emails=eve@acme.example",
            StatusCode::FORBIDDEN,
        ),
        ("?allowed_email_domains=acme.example", StatusCode::ACCEPTED),
        (
            "?allowed_email_domains=other.example",
            StatusCode::FORBIDDEN,
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            auth(&proxy, query, &cookies).await.status(),
            expected,
            "{query}"
        );
    }
}

#[tokio::test]
async fn empty_claims_leave_their_headers_out() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;
    let cookies = proxy.sign_in(User::new("svc", "").with_preferred_username(""));

    let response = auth(&proxy, "", &cookies).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let headers = response.headers();
    assert_eq!(headers["x-auth-request-user"], "svc");
    assert_eq!(headers["gap-auth"], "svc");
    for absent in [
        "x-auth-request-email",
        "x-auth-request-groups",
        "x-auth-request-preferred-username",
    ] {
        assert!(!headers.contains_key(absent), "{absent}");
    }
}

#[tokio::test]
async fn large_sessions_are_split_and_read_back_until_a_gap() {
    let options = ProxyOptions {
        split_cookies: true,
        cookie_domain: Some("acme.example".into()),
        ..ProxyOptions::default()
    };
    let (_provider, proxy) = start(options).await;

    let lines = sign_in_dance(&proxy, "/app").await;
    let chunks: Vec<_> = pairs(&lines)
        .into_iter()
        .filter(|(n, _)| n.starts_with("_oauth2_proxy_") && n != "_oauth2_proxy_csrf")
        .collect();
    let names: Vec<_> = chunks.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["_oauth2_proxy_0", "_oauth2_proxy_1", "_oauth2_proxy_2"]
    );
    for line in &lines {
        assert!(line.len() <= 4000);
        assert!(line.contains("; Domain=acme.example;"), "{line}");
    }
    assert_eq!(
        auth(&proxy, "", &chunks).await.status(),
        StatusCode::ACCEPTED
    );

    let mut reversed = chunks.clone();
    reversed.reverse();
    assert_eq!(
        auth(&proxy, "", &reversed).await.status(),
        StatusCode::ACCEPTED
    );
    let with_gap = [chunks[0].clone(), chunks[2].clone()];
    assert_eq!(
        auth(&proxy, "", &with_gap).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(proxy.sign_in(User::demo()).len(), 3);
}

#[tokio::test]
async fn sign_out_ends_the_session_and_clears_every_chunk() {
    let (_provider, proxy) = start(ProxyOptions {
        split_cookies: true,
        ..ProxyOptions::default()
    })
    .await;
    let cookies = proxy.sign_in(User::demo());

    let response = client()
        .post(format!("{}/oauth2/sign_out?rd=/bye", proxy.url()))
        .header("cookie", OAuth2Proxy::cookie_header(&cookies))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/bye");
    let cleared = set_cookies(&response);
    for name in [
        "_oauth2_proxy",
        "_oauth2_proxy_0",
        "_oauth2_proxy_1",
        "_oauth2_proxy_2",
    ] {
        assert!(
            cleared
                .iter()
                .any(|line| line.starts_with(&format!("{name}=; Max-Age=0"))),
            "{name}"
        );
    }
    assert_eq!(proxy.session_count(), 0);
    assert_eq!(
        auth(&proxy, "", &cookies).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let absolute = client()
        .get(format!(
            "{}/oauth2/sign_out?rd=https://evil.example/",
            proxy.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&absolute), "/");
}

#[tokio::test]
async fn revoked_users_lose_their_sessions() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;
    let alice = proxy.sign_in(User::new("alice", "alice@acme.example"));
    let bob = proxy.sign_in(User::new("bob", "bob@acme.example"));

    proxy.revoke_user("alice");

    assert_eq!(
        auth(&proxy, "", &alice).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(auth(&proxy, "", &bob).await.status(), StatusCode::ACCEPTED);
    proxy.revoke_all();
    assert_eq!(
        auth(&proxy, "", &bob).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn userinfo_describes_the_session() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;
    let cookies = proxy.sign_in(User::new("fay", "fay@acme.example").with_groups(["a", "b"]));
    let url = format!("{}/oauth2/userinfo", proxy.url());

    let info: Value = client()
        .get(&url)
        .header("cookie", OAuth2Proxy::cookie_header(&cookies))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let expected = json!({
        "user": "fay", "email": "fay@acme.example", "groups": ["a", "b"], "preferredUsername": "fay"
    });
    assert_eq!(info, expected);
    assert_eq!(
        client().get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_sign_in_page_links_to_start() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;

    let response = client()
        .get(format!("{}/oauth2/sign_in?rd=/app", proxy.url()))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("href=\"/oauth2/start?rd=%2Fapp\"")
    );
}

#[tokio::test]
async fn refresh_sends_a_new_cookie_with_the_202() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;
    let cookies = proxy.sign_in(User::demo());

    proxy.set_refresh(true);
    let response = auth(&proxy, "", &cookies).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let refreshed = pairs(&set_cookies(&response));
    assert_eq!(refreshed.len(), 1);
    assert_ne!(refreshed, cookies);
    assert_eq!(
        auth(&proxy, "", &refreshed).await.status(),
        StatusCode::ACCEPTED
    );
    proxy.set_refresh(false);
    assert!(set_cookies(&auth(&proxy, "", &cookies).await).is_empty());
}

#[tokio::test]
async fn an_id_token_override_reaches_the_caller() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;
    let cookies = proxy.sign_in(User::demo());

    proxy.set_id_token_override(Some("forged.token.here".into()));

    let response = auth(&proxy, "", &cookies).await;
    assert_eq!(
        response.headers()["authorization"],
        "Bearer forged.token.here"
    );
}

#[tokio::test]
async fn every_request_is_recorded_with_its_headers() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;
    let cookies = proxy.sign_in(User::demo());

    auth(&proxy, "?allowed_groups=engineers", &cookies).await;
    client()
        .get(format!("{}/elsewhere", proxy.url()))
        .header("x-trace", "1")
        .send()
        .await
        .unwrap();

    let requests = proxy.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(proxy.auth_calls(), 1);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("GET", "/oauth2/auth")
    );
    assert_eq!(
        requests[0].query.as_deref(),
        Some("allowed_groups=engineers")
    );
    assert_eq!(requests[0].cookies(), cookies);
    assert_eq!(requests[1].header("X-Trace"), Some("1"));
    proxy.clear_requests();
    assert!(proxy.requests().is_empty());
}

#[tokio::test]
async fn modes_change_every_answer() {
    let (_provider, proxy) = start(ProxyOptions::default()).await;
    let cookies = proxy.sign_in(User::demo());

    proxy.set_mode(ProxyMode::Unavailable503);
    assert_eq!(
        auth(&proxy, "", &cookies).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    proxy.set_mode(ProxyMode::Status(418));
    assert_eq!(
        auth(&proxy, "", &cookies).await.status(),
        StatusCode::IM_A_TEAPOT
    );

    proxy.set_mode(ProxyMode::Garbage);
    let garbage = auth(&proxy, "", &cookies).await;
    assert_eq!(garbage.status(), StatusCode::OK);
    assert!(garbage.json::<Value>().await.is_err());

    proxy.set_mode(ProxyMode::AcceptWithoutIdentity);
    let empty = auth(&proxy, "", &[]).await;
    assert_eq!(empty.status(), StatusCode::ACCEPTED);
    assert!(!empty.headers().contains_key("x-auth-request-user"));
    assert!(!empty.headers().contains_key("authorization"));

    proxy.set_mode(ProxyMode::Redirect);
    let redirect = auth(&proxy, "", &[]).await;
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let trap = client().get(location(&redirect)).send().await.unwrap();
    assert_eq!(
        trap.status(),
        StatusCode::ACCEPTED,
        "a follower would be let in"
    );
    assert_eq!(trap.headers()["x-auth-request-user"], "demo-user");

    proxy.set_mode(ProxyMode::Hang(Duration::from_secs(5)));
    let request = client()
        .get(format!("{}/oauth2/auth", proxy.url()))
        .timeout(Duration::from_millis(200));
    assert!(request.send().await.unwrap_err().is_timeout());

    proxy.set_mode(ProxyMode::Normal);
    assert_eq!(
        auth(&proxy, "", &cookies).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(proxy.auth_calls(), 7);
}
