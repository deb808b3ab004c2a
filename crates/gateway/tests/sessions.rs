//! Sign-in and sessions through the gateway, over real sockets, against the testkit's fake
//! IdP and oauth2-proxy.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use std::time::Duration;

use credless_testkit::{
    OAuth2Proxy, OidcProvider, ProxyMode, ProxyOptions, TokenKey, TokenOptions, User,
};
use serde_json::{Value, json};
use support::{TestGateway, problem};

const HOST: &str = "acme.credless.test";

struct World {
    gw: TestGateway,
    idp: OidcProvider,
    proxy: OAuth2Proxy,
}

impl World {
    async fn start() -> Self {
        Self::start_with(ProxyOptions::default(), Duration::from_secs(30)).await
    }

    async fn start_with(options: ProxyOptions, cache_ttl: Duration) -> Self {
        let idp = OidcProvider::start().await;
        let proxy = OAuth2Proxy::start(&idp, options).await;
        let gw = TestGateway::start_with(|c| {
            c.server.allow_insecure_upstreams = true;
            c.session.cache_ttl = cache_ttl;
        })
        .await;
        let created = gw.create_tenant(&tenant_for("acme", &idp, &proxy)).await;
        assert_eq!(created.status(), 201);
        Self { gw, idp, proxy }
    }

    fn cookie(&self, user: User) -> String {
        OAuth2Proxy::cookie_header(&self.proxy.sign_in(user))
    }

    async fn me(&self, cookie: &str) -> reqwest::Response {
        self.gw
            .http
            .get(self.gw.public("/api/v1/me"))
            .header("host", HOST)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }
}

fn tenant_for(id: &str, idp: &OidcProvider, proxy: &OAuth2Proxy) -> Value {
    json!({
        "id": id,
        "admin_email": "ops@acme.example",
        "admin_groups": ["platform"],
        "proxy_url": proxy.url(),
        "oidc": { "issuer": idp.issuer(), "audiences": ["credless-client"] }
    })
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `name=value` pairs of `Set-Cookie` headers that set (not clear) a cookie.
fn jar(set_cookies: &[String]) -> String {
    set_cookies
        .iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn a_browser_signs_in_through_the_gateway_and_out_again() {
    let world = World::start().await;
    let (gw, http) = (&world.gw, &world.gw.http);
    world
        .idp
        .set_next_user(User::new("u-123", "ada@acme.example").with_groups(["platform", "dev"]));

    // An unauthenticated navigation is sent to sign-in, and will come back.
    let nav = http
        .get(gw.public("/vms?page=2"))
        .header("host", HOST)
        .header("accept", "text/html");
    let nav = nav.send().await.unwrap();
    assert_eq!(nav.status(), 302);
    assert_eq!(location(&nav), "/oauth2/start?rd=%2Fvms%3Fpage%3D2");

    let start = http
        .get(gw.public("/oauth2/start?rd=/api/v1/me"))
        .header("host", HOST)
        .send();
    let start = start.await.unwrap();
    assert_eq!(start.status(), 302);
    let csrf = jar(&set_cookies(&start));
    let to_idp = location(&start);
    assert!(
        to_idp.contains(&urlencode(&format!("http://{HOST}/oauth2/callback"))),
        "{to_idp}"
    );

    let from_idp = http.get(&to_idp).send().await.unwrap();
    assert_eq!(from_idp.status(), 302);
    let callback = location(&from_idp);
    let path = callback.strip_prefix(&format!("http://{HOST}")).unwrap();
    let signed_in = http
        .get(gw.public(path))
        .header("host", HOST)
        .header("cookie", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 302);
    assert_eq!(location(&signed_in), "/api/v1/me");
    let session = jar(&set_cookies(&signed_in));
    assert!(session.starts_with("_oauth2_proxy="), "{session}");

    let me = world.me(&session).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        me,
        json!({"tenant": "acme", "subject": "u-123", "email": "ada@acme.example",
               "preferred_username": me["preferred_username"], "groups": ["platform", "dev"],
               "tenant_admin": true})
    );

    let out = http
        .get(gw.public("/oauth2/sign_out?rd=/"))
        .header("host", HOST)
        .header("cookie", &session);
    let out = out.send().await.unwrap();
    assert_eq!(out.status(), 302);
    assert!(
        set_cookies(&out)
            .iter()
            .any(|c| c.starts_with("_oauth2_proxy=;"))
    );
    let (status, body) = problem(world.me(&session).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("login_required"))
    );
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn api_calls_without_a_session_get_401_with_a_login_url() {
    let world = World::start().await;
    let response = world.me("").await;
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("login_required"))
    );
    assert_eq!(body["login_url"], "/oauth2/start?rd=%2Fapi%2Fv1%2Fme");
    assert_eq!(
        world.proxy.auth_calls(),
        0,
        "no cookie, no call to the proxy"
    );

    let html = world
        .gw
        .http
        .get(world.gw.public("/api/v1/me"))
        .header("host", HOST);
    let html = html.header("accept", "text/html").send().await.unwrap();
    assert_eq!(html.status(), 401, "API paths never redirect");
}

#[tokio::test]
async fn a_user_removed_at_the_idp_loses_access_within_cache_ttl() {
    let ttl = Duration::from_millis(400);
    let world = World::start_with(ProxyOptions::default(), ttl).await;
    let cookie = world.cookie(User::new("u-1", "bob@acme.example"));
    assert_eq!(world.me(&cookie).await.status(), 200);

    world.proxy.revoke_user("u-1");
    let revoked_at = std::time::Instant::now();
    loop {
        let status = world.me(&cookie).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < ttl * 5,
            "still signed in long after cache_ttl"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn forged_and_malformed_tokens_get_401_token_invalid() {
    let world = World::start().await;
    let other_idp = OidcProvider::start().await;
    let user = User::new("u-9", "eve@acme.example");
    let claims = world.idp.claims_for(&user, "credless-client");
    let edit = |pointer: &str, value: Value| {
        let mut c = claims.clone();
        match value {
            Value::Null => {
                c.as_object_mut().unwrap().remove(pointer);
            }
            v => c[pointer] = v,
        }
        world.idp.mint(c)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cases = [
        (
            "alg none",
            world
                .idp
                .mint_with(TokenOptions::new(TokenKey::AlgNone), claims.clone()),
        ),
        (
            "HS256 with the public key",
            world.idp.mint_with(
                TokenOptions::new(TokenKey::HmacWithRsaPublicKey(
                    credless_testkit::PublicKeyBytes::Pem,
                )),
                claims.clone(),
            ),
        ),
        ("wrong iss", edit("iss", json!("https://evil.example"))),
        ("missing iss", edit("iss", Value::Null)),
        ("wrong aud", edit("aud", json!("someone-else"))),
        ("aud of the wrong type", edit("aud", json!(123))),
        ("missing aud", edit("aud", Value::Null)),
        ("missing sub", edit("sub", Value::Null)),
        ("expired", edit("exp", json!(now - 3600))),
        ("not yet valid", edit("nbf", json!(now + 3600))),
        (
            "unknown kid",
            world
                .idp
                .mint_with(TokenOptions::new(TokenKey::Unpublished), claims.clone()),
        ),
        (
            "another tenant's IdP",
            other_idp.id_token_for(&user, "credless-client"),
        ),
    ];
    for (case, token) in cases {
        world.proxy.set_id_token_override(Some(token));
        let cookie = world.cookie(user.clone());
        let (status, body) = problem(world.me(&cookie).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("token_invalid")),
            "{case}"
        );
        assert!(
            !body.to_string().contains("eyJ"),
            "{case}: a token leaked into the answer"
        );
    }
}

#[tokio::test]
async fn only_the_tenants_cookies_reach_only_its_proxy() {
    let world = World::start().await;
    let other_proxy = OAuth2Proxy::start(
        &world.idp,
        ProxyOptions {
            cookie_name: "_beta".into(),
            ..ProxyOptions::default()
        },
    )
    .await;
    let mut beta = tenant_for("beta", &world.idp, &other_proxy);
    beta["cookie_name"] = json!("_beta");
    assert_eq!(world.gw.create_tenant(&beta).await.status(), 201);

    let acme = world.cookie(User::demo());
    let both = format!("{acme}; _beta=beta-secret; theme=dark");
    let hostile = world
        .gw
        .http
        .get(world.gw.public("/api/v1/me"))
        .header("host", HOST)
        .header("cookie", &both)
        .header("authorization", "Bearer client-token")
        .header("x-forwarded-for", "1.2.3.4")
        .header("X_Forwarded_Host", "evil.example")
        .header("x-auth-request-email", "ceo@acme.example")
        .header("X-Auth-Request-User", "ceo")
        .header("forwarded", "for=1.2.3.4")
        .header("x-original-url", "/admin")
        .send()
        .await
        .unwrap();
    let me: Value = hostile.json().await.unwrap();
    assert_eq!(
        me["email"], "demo@example.com",
        "client identity headers were believed"
    );

    // The sign-in pass-through strips the same headers.
    let start = world
        .gw
        .http
        .get(world.gw.public("/oauth2/start?rd=/"))
        .header("host", HOST);
    let start = start
        .header("cookie", &both)
        .header("x-auth-request-email", "ceo@acme.example")
        .header("X_Auth_Request_Email", "ceo@acme.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("authorization", "Bearer client-token")
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);

    assert!(
        other_proxy.requests().is_empty(),
        "another tenant's proxy was called"
    );
    let requests = world.proxy.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        for (name, value) in &request.headers {
            let name = name.to_ascii_lowercase().replace('_', "-");
            assert!(
                !name.starts_with("x-auth-request") && !name.starts_with("x-original"),
                "{name}"
            );
            assert!(
                name != "authorization" && name != "forwarded",
                "{name} reached the proxy"
            );
            assert!(
                !value.contains("evil.example") && !value.contains("1.2.3.4"),
                "{name}: {value}"
            );
            assert!(
                !value.contains("beta-secret") && !value.contains("theme"),
                "{name}: {value}"
            );
        }
    }
    let forwarded = requests.iter().find(|r| r.path == "/oauth2/start").unwrap();
    assert_eq!(forwarded.header("x-forwarded-host"), Some(HOST));
    assert_eq!(forwarded.header("x-forwarded-proto"), Some("http"));
    assert_eq!(forwarded.header("x-forwarded-for"), Some("127.0.0.1"));
}

#[tokio::test]
async fn open_redirects_are_refused() {
    let world = World::start().await;
    for rd in [
        "//evil.example",
        "https://evil.example/",
        "/%2F%2Fevil.example",
        "/\\evil.example",
    ] {
        let url = world
            .gw
            .public(&format!("/oauth2/start?rd={}", urlencode(rd)));
        let response = world
            .gw
            .http
            .get(url)
            .header("host", HOST)
            .send()
            .await
            .unwrap();
        let (status, body) = problem(response).await;
        assert_eq!((status, body["field"].as_str()), (400, Some("rd")), "{rd}");
    }
    assert!(world.proxy.requests().is_empty());
}

#[tokio::test]
async fn unsafe_cross_site_api_calls_get_403_csrf_rejected() {
    let world = World::start().await;
    let cookie = world.cookie(User::demo());
    let post = |origin: Option<&str>, site: Option<&str>| {
        let mut request = world
            .gw
            .http
            .post(world.gw.public("/api/v1/me"))
            .header("host", HOST)
            .header("cookie", &cookie);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (None, Some("cross-site")),
        (Some("null"), None),
    ] {
        let (status, body) = problem(post(origin, site).await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("csrf_rejected")),
            "{origin:?} {site:?}"
        );
    }
    let same = post(Some(&format!("http://{HOST}")), Some("same-origin"))
        .await
        .unwrap();
    assert_eq!(
        problem(same).await.0,
        405,
        "a same-origin request passes the CSRF rule"
    );
}

#[tokio::test]
async fn a_refreshed_session_cookie_reaches_the_browser() {
    let world = World::start().await;
    world.proxy.set_refresh(true);
    let cookie = world.cookie(User::demo());
    let me = world.me(&cookie).await;
    assert_eq!(me.status(), 200);
    assert!(
        set_cookies(&me)
            .iter()
            .any(|c| c.starts_with("_oauth2_proxy="))
    );
}

#[tokio::test]
async fn proxy_cookies_covering_other_tenants_become_host_only() {
    let options = ProxyOptions {
        cookie_domain: Some(".credless.test".into()),
        enforce_csrf: false,
        ..ProxyOptions::default()
    };
    let world = World::start_with(options, Duration::from_secs(30)).await;
    let start = world
        .gw
        .http
        .get(world.gw.public("/oauth2/start?rd=/"))
        .header("host", HOST);
    let start = start.send().await.unwrap();
    for cookie in set_cookies(&start) {
        assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    }
}

#[tokio::test]
async fn a_failing_proxy_fails_closed() {
    let world = World::start().await;
    for (mode, status) in [
        (ProxyMode::Unavailable503, 502),
        (ProxyMode::Garbage, 502),
        (ProxyMode::Redirect, 502),
        (ProxyMode::Status(500), 502),
        (ProxyMode::Hang(Duration::from_secs(30)), 504),
    ] {
        world.proxy.set_mode(mode);
        let cookie = world.cookie(User::demo());
        let (got, body) = problem(world.me(&cookie).await).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some("proxy_unavailable")),
            "{mode:?}"
        );
    }
    world.proxy.set_mode(ProxyMode::AcceptWithoutIdentity);
    let cookie = world.cookie(User::demo());
    assert_eq!(
        problem(world.me(&cookie).await).await.1["code"],
        "login_required"
    );
}

#[tokio::test]
async fn removing_a_tenant_ends_its_sessions_at_once() {
    let world = World::start().await;
    let cookie = world.cookie(User::demo());
    assert_eq!(world.me(&cookie).await.status(), 200);
    let deleted = world
        .gw
        .http
        .delete(world.gw.admin("/admin/v1/tenants/acme"))
        .bearer_auth(support::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        problem(world.me(&cookie).await).await.1["code"],
        "unknown_host"
    );
    assert_eq!(
        world.gw.server.gateway().sessions().cached_sessions().await,
        0
    );
}

#[tokio::test]
async fn a_thousand_concurrent_first_requests_make_one_proxy_call() {
    let world = World::start().await;
    let cookie = world.cookie(User::demo());
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let (http, url, cookie) = (
                world.gw.http.clone(),
                world.gw.public("/api/v1/me"),
                cookie.clone(),
            );
            tokio::spawn(async move {
                http.get(url)
                    .header("host", HOST)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    assert_eq!(world.proxy.auth_calls(), 1);
}
