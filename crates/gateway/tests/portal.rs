//! The web portal's pages through the running gateway: served at `/` of a tenant hostname
//! behind the session check, with a strict Content-Security-Policy, content types, `ETag`
//! revalidation, and the answers to paths and methods it does not serve.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use credless_testkit::{OAuth2Proxy, User};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use support::{AcmeGateway, problem};

const HOST: &str = "acme.credless.test";
const NAVIGATION: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

struct World {
    acme: AcmeGateway,
    cookie: String,
}

impl World {
    async fn start() -> Self {
        let acme = AcmeGateway::start().await;
        let user = User::new("u-1", "dev@acme.example");
        let cookie = OAuth2Proxy::cookie_header(&acme.proxy.sign_in(user));
        Self { acme, cookie }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.acme
            .gw
            .http
            .request(method, self.acme.gw.public(path))
            .header("host", HOST)
            .header("cookie", &self.cookie)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path).send().await.unwrap()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// The security headers every portal answer must carry.
fn assert_secured(headers: &HeaderMap, what: &str) {
    let policy = header(headers, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{what}: policy {policy:?} lacks {directive}"
        );
    }
    assert!(
        !policy.contains("unsafe"),
        "{what}: policy allows unsafe code: {policy}"
    );
    assert_eq!(
        header(headers, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(headers, "x-frame-options"), "DENY", "{what}");
}

#[tokio::test]
async fn a_signed_in_navigation_gets_the_page_with_a_strict_policy() {
    let world = World::start().await;

    let response = world
        .request(Method::GET, "/")
        .header("accept", NAVIGATION)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_secured(&headers, "/");
    assert!(header(&headers, "cache-control").contains("no-cache"));
    assert!(header(&headers, "etag").starts_with('"'), "a strong ETag");
    assert!(!header(&headers, "x-request-id").is_empty());
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<script type="module" src="/assets/app.js"></script>"#));
    assert!(
        page.contains(r#"href="/oauth2/sign_out?rd=/""#),
        "a sign-out link"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no third party"
    );

    let again = world.get("/index.html").await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), page);
}

#[tokio::test]
async fn without_a_session_a_navigation_goes_to_sign_in_and_an_asset_is_refused() {
    let world = World::start().await;

    let navigation = world
        .acme
        .gw
        .http
        .get(world.acme.gw.public("/?tab=1"))
        .header("host", HOST)
        .header("accept", NAVIGATION)
        .send()
        .await
        .unwrap();
    assert_eq!(navigation.status(), 302);
    assert_eq!(
        header(navigation.headers(), "location"),
        "/oauth2/start?rd=%2F%3Ftab%3D1"
    );

    let asset = world
        .acme
        .gw
        .http
        .get(world.acme.gw.public("/assets/app.js"))
        .header("host", HOST)
        .header("accept", "*/*")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(asset).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("login_required"))
    );
}

#[tokio::test]
async fn every_asset_the_page_loads_is_served_with_its_content_type() {
    let world = World::start().await;

    let expected = [
        ("/assets/portal.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
    ];
    for (path, kind) in expected {
        let response = world.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(response.headers(), "content-type"), kind, "{path}");
        assert_secured(response.headers(), path);
    }

    // Follow the module graph from the entry point: every import must be embedded.
    let mut pending = vec!["app.js".to_owned()];
    let mut seen = Vec::new();
    while let Some(module) = pending.pop() {
        if seen.contains(&module) {
            continue;
        }
        let response = world.get(&format!("/assets/{module}")).await;
        assert_eq!(response.status(), 200, "module {module}");
        let kind = header(response.headers(), "content-type").to_owned();
        assert_eq!(kind, "text/javascript; charset=utf-8", "{module}");
        let source = response.text().await.unwrap();
        assert!(
            !source.contains("innerHTML"),
            "{module} parses strings as HTML"
        );
        for part in source.split(" from './").skip(1) {
            let import = part.split('\'').next().unwrap_or_default();
            pending.push(import.to_owned());
        }
        seen.push(module);
    }
    assert!(seen.len() >= 5, "the portal's modules: {seen:?}");
}

#[tokio::test]
async fn a_matching_etag_gets_304_and_a_stale_one_gets_the_file() {
    let world = World::start().await;
    let first = world.get("/assets/portal.css").await;
    let etag = header(first.headers(), "etag").to_owned();
    let css = first.text().await.unwrap();

    for candidate in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
    ] {
        let response = world
            .request(Method::GET, "/assets/portal.css")
            .header("if-none-match", HeaderValue::from_str(&candidate).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304, "If-None-Match: {candidate}");
        assert_eq!(header(response.headers(), "etag"), etag);
        assert_secured(response.headers(), "304");
        assert!(response.bytes().await.unwrap().is_empty());
    }

    let stale = world
        .request(Method::GET, "/assets/portal.css")
        .header("if-none-match", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.text().await.unwrap(), css);

    let page = world.get("/").await;
    assert_ne!(
        header(page.headers(), "etag"),
        etag,
        "each file has its own ETag"
    );
}

#[tokio::test]
async fn unknown_paths_and_unsafe_methods_are_refused_as_problems() {
    let world = World::start().await;

    let (status, body) = problem(world.get("/assets/missing.js").await).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = problem(world.get("/api/v1/nothing-here").await).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    let post = world
        .request(Method::POST, "/")
        .header("origin", format!("http://{HOST}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(post.headers(), "allow"), "GET, HEAD");
    assert_secured(post.headers(), "405");
    let (status, _) = problem(post).await;
    assert_eq!(status, 405);

    let head = world.request(Method::HEAD, "/").send().await.unwrap();
    assert_eq!(head.status(), 200);
    let length: usize = header(head.headers(), "content-length").parse().unwrap();
    assert!(length > 500, "HEAD announces the page's length: {length}");
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_pages_own_unsafe_calls_pass_the_cross_site_rule() {
    let world = World::start().await;

    // What a same-origin `fetch` from the page sends with a POST.
    let same_origin = world
        .request(Method::POST, "/api/v1/accounts/none/verify")
        .header("origin", format!("http://{HOST}"))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(same_origin).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    let cross_site = world
        .request(Method::POST, "/api/v1/accounts/none/verify")
        .header("origin", "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(cross_site).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("csrf_rejected"))
    );
}
