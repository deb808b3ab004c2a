//! `SessionLayer` guarding a tiny service, without a listening socket of its own.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use credless_registry::model::Tenant;
use credless_session::{Identity, SessionLayer};
use credless_testkit::{OAuth2Proxy, User};
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt, service_fn};

use crate::support::World;

/// A service answering with the caller's subject, counting its calls.
fn whoami(
    calls: Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send,
> + Clone
+ Send
+ 'static {
    service_fn(move |request: Request<Full<Bytes>>| {
        let calls = Arc::clone(&calls);
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let identity = request.extensions().get::<Arc<Identity>>().unwrap();
            Ok(Response::new(Full::new(Bytes::from(
                identity.subject.clone(),
            ))))
        }
    })
}

fn request(cookie: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().uri("/api/v1/me");
    if let Some(cookie) = cookie {
        builder = builder.header(COOKIE, cookie);
    }
    builder.body(Full::default()).unwrap()
}

async fn body(response: Response<Full<Bytes>>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_valid_session_reaches_the_service_with_its_identity_and_cookie() {
    let world = World::start().await;
    let cookie = OAuth2Proxy::cookie_header(&world.proxy.sign_in(User::demo()));
    world.proxy.set_refresh(true);
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = SessionLayer::new(world.validator.clone(), Arc::clone(&world.tenant));

    let response = layer
        .layer(whoami(Arc::clone(&calls)))
        .oneshot(request(Some(&cookie)))
        .await;

    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get(SET_COOKIE).is_some(),
        "the refreshed cookie is relayed"
    );
    assert_eq!(body(response).await, User::demo().sub);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_a_session_the_service_is_not_called() {
    let world = World::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = SessionLayer::new(world.validator.clone(), Arc::clone(&world.tenant));

    let response = layer
        .layer(whoami(Arc::clone(&calls)))
        .oneshot(request(None))
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&body(response).await).unwrap();
    assert_eq!(problem["code"], "login_required");
    assert_eq!(problem["login_url"], "/oauth2/start");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_request_no_tenant_claims_is_not_found() {
    let world = World::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let nobody = |_: &http::request::Parts| -> Option<Arc<Tenant>> { None };
    let layer = SessionLayer::new(world.validator.clone(), nobody);
    let cookie = OAuth2Proxy::cookie_header(&world.proxy.sign_in(User::demo()));

    let service = layer.layer(whoami(Arc::clone(&calls)));
    let response = service.oneshot(request(Some(&cookie))).await.unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(world.proxy.auth_calls(), 0);
}
