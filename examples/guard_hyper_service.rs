//! Guarding your own hyper service with Credless's session layer.
//!
//! `SessionLayer` is a tower middleware: put it in front of any service and every request
//! first has its oauth2-proxy session checked. The proxy is asked who the cookie belongs to,
//! the ID token it answers with is verified against the issuer's published keys, and only then
//! is your service called, with the caller's `Arc<Identity>` in the request extensions.
//! Requests without a session never reach your code: API clients get a `401` problem document,
//! browsers a redirect to the proxy's sign-in page.
//!
//! Here the identity provider and the oauth2-proxy are the testkit's fakes, so the example runs
//! anywhere: `cargo run --example guard_hyper_service`. In production the tenant names your
//! organisation's real oauth2-proxy and OIDC issuer instead.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on the terminal"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use credless::registry::{Oidc, Tenant};
use credless::session::{Identity, SessionConfig, SessionLayer, SessionValidator};
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::{Layer as _, ServiceExt as _};

/// Any error of the example, shown by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// What a client saw when it called the guarded service.
#[derive(Debug)]
struct Outcome {
    /// The body the service answered a signed-in request with.
    signed_in_body: String,
    /// The status of an API request without a session cookie.
    anonymous_status: StatusCode,
    /// The `code` of the problem document that request got.
    anonymous_code: String,
    /// Where a browser without a session was sent.
    browser_redirect: Option<String>,
}

/// Your own service: it greets the person the session layer let in.
///
/// It never checks cookies or tokens itself; the identity is simply there.
async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let greeting = match request.extensions().get::<Arc<Identity>>() {
        Some(identity) => format!(
            "hello {} ({}), groups {:?}",
            identity
                .email
                .as_deref()
                .unwrap_or("someone without an email"),
            identity.subject,
            identity.groups,
        ),
        // Unreachable behind the layer; answered anyway rather than panicking.
        None => "hello stranger".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(greeting))))
}

/// Serves `hello` behind the session layer on a random loopback port until the process ends.
async fn serve(tenant: Arc<Tenant>) -> Result<SocketAddr, Error> {
    // One validator for the whole process: it caches validated sessions briefly.
    let validator = SessionValidator::new(SessionConfig {
        // The fakes listen on plain http at 127.0.0.1; never set this in production.
        allow_insecure_upstreams: true,
        ..SessionConfig::default()
    })?;
    // A single-tenant service resolves every request to its one tenant; a multi-tenant one
    // passes a closure `Fn(&http::request::Parts) -> Option<Arc<Tenant>>` instead.
    let guarded = SessionLayer::new(validator, tenant).layer(tower::service_fn(hello));

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // hyper wants its own `Service` trait; `oneshot` bridges from tower's.
            let guarded = guarded.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                guarded.clone().oneshot(request)
            });
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                // A client hanging up early is not the example's concern.
                let _ = connection.await;
            });
        }
    });
    Ok(address)
}

/// Starts the fakes and the guarded service, then calls it as three different clients.
async fn run() -> Result<Outcome, Error> {
    // A fake OIDC provider and an oauth2-proxy in front of it, both on 127.0.0.1.
    let idp = OidcProvider::start().await;
    let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;

    // The tenant record Credless keeps for an organisation: where its proxy is, which cookie
    // it sets, and which issuer and audience its ID tokens must have.
    let tenant = Arc::new(Tenant {
        id: "acme".to_owned(),
        admin_email: "ops@acme.example".to_owned(),
        hostnames: Vec::new(),
        proxy_url: proxy.url(),
        cookie_name: proxy.options().cookie_name.clone(),
        oidc: Oidc {
            issuer: idp.issuer(),
            audiences: vec![proxy.options().client_id.clone()],
        },
        admin_groups: Vec::new(),
    });
    let url = format!("http://{}/whoami", serve(tenant).await?);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;

    // 1. Jane signed in at the proxy; her browser now holds its session cookie.
    let jane = User::new("user-jane", "jane@acme.example").with_groups(["engineers"]);
    let cookie = OAuth2Proxy::cookie_header(&proxy.sign_in(jane));
    let signed_in = client
        .get(&url)
        .header(http::header::COOKIE, cookie)
        .send()
        .await?;
    if signed_in.status() != StatusCode::OK {
        return Err(format!("a signed-in request got {}", signed_in.status()).into());
    }
    let signed_in_body = signed_in.text().await?;

    // 2. An API client without a session: 401 with an `application/problem+json` body.
    let anonymous = client.get(&url).send().await?;
    let anonymous_status = anonymous.status();
    let problem: serde_json::Value = anonymous.json().await?;
    let anonymous_code = problem["code"].as_str().unwrap_or_default().to_owned();

    // 3. A browser without a session: sent to sign in, and back here afterwards.
    let browser = client
        .get(&url)
        .header(http::header::ACCEPT, "text/html")
        .send()
        .await?;
    let browser_redirect = browser
        .headers()
        .get(http::header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .map(str::to_owned);

    Ok(Outcome {
        signed_in_body,
        anonymous_status,
        anonymous_code,
        browser_redirect,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let outcome = run().await?;
    println!("signed in:       {}", outcome.signed_in_body);
    println!(
        "no session, API: {} {}",
        outcome.anonymous_status, outcome.anonymous_code
    );
    println!(
        "no session, browser: redirected to {}",
        outcome.browser_redirect.as_deref().unwrap_or("nowhere")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_signed_in_request_reaches_the_service() {
        let outcome = run().await.expect("the example runs");

        assert_eq!(
            outcome.signed_in_body,
            "hello jane@acme.example (user-jane), groups [\"engineers\"]"
        );
        assert_eq!(outcome.anonymous_status, StatusCode::UNAUTHORIZED);
        assert_eq!(outcome.anonymous_code, "login_required");
        assert_eq!(
            outcome.browser_redirect.as_deref(),
            Some("/oauth2/start?rd=%2Fwhoami")
        );
    }
}
