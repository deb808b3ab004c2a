//! The admin listener: health, readiness, metrics, and the operator API for tenants.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, LOCATION};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as HttpBody;

use credless_registry::model::Tenant;

use crate::app::{BoxError, Context, Shared, empty, json, text};
use crate::problem::{Body, Problem};
use crate::request::read_body;

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn handle<B>(
    shared: &Shared,
    req: Request<B>,
    cx: &mut Context,
) -> Result<Response<Body>, Problem>
where
    B: HttpBody<Data = Bytes> + Send,
    B::Error: Into<BoxError>,
{
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match path.as_str() {
        "/livez" => {
            cx.route = "/livez";
            only(&method, &[Method::GET, Method::HEAD], "GET, HEAD")?;
            return Ok(text(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                "ok\n".into(),
            ));
        }
        "/readyz" => {
            cx.route = "/readyz";
            only(&method, &[Method::GET, Method::HEAD], "GET, HEAD")?;
            return ready(shared).await;
        }
        "/metrics" => {
            cx.route = "/metrics";
            only(&method, &[Method::GET], "GET")?;
            let body = shared.metrics.render();
            let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
            return Ok(text(StatusCode::OK, kind, body));
        }
        _ => {}
    }

    let Some(rest) = path.strip_prefix("/admin/v1/") else {
        return Err(Problem::not_found("no such path on the admin listener"));
    };
    cx.route = "/admin/v1/*";
    if !shared
        .admin_token
        .matches(req.headers().get(http::header::AUTHORIZATION))
    {
        tracing::info!(peer = %cx.peer, "operator request refused: missing or wrong token");
        return Err(Problem::admin_token_invalid());
    }

    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["tenants"] | ["tenants", ""] => {
            cx.route = "/admin/v1/tenants";
            match method {
                Method::GET => list_tenants(shared).await,
                Method::POST => {
                    let tenant = tenant_body(shared, req).await?;
                    let created = shared.registry.create_tenant(tenant).await?;
                    tracing::info!(tenant.id = %created.id, "tenant created");
                    shared.metrics.set_tenants(shared.registry.hosts().len());
                    let mut response = json(StatusCode::CREATED, &created);
                    let location = format!("/admin/v1/tenants/{}", created.id);
                    if let Ok(value) = HeaderValue::from_str(&location) {
                        response.headers_mut().insert(LOCATION, value);
                    }
                    Ok(response)
                }
                _ => Err(Problem::method_not_allowed("GET, POST")),
            }
        }
        ["tenants", id] if !id.is_empty() => {
            cx.route = "/admin/v1/tenants/{id}";
            let id = (*id).to_owned();
            match method {
                Method::GET => match shared.registry.tenant(&id).await? {
                    Some(tenant) => Ok(json(StatusCode::OK, &tenant)),
                    None => Err(Problem::not_found(format!("no tenant with id `{id}`"))),
                },
                Method::PUT => {
                    let tenant = tenant_body(shared, req).await?;
                    let replaced = shared.registry.replace_tenant(&id, tenant).await?;
                    shared.sessions.invalidate_tenant(&id);
                    shared.exchanges.invalidate_tenant(&id);
                    tracing::info!(tenant.id = %id, "tenant replaced");
                    Ok(json(StatusCode::OK, &replaced))
                }
                Method::DELETE => {
                    shared.registry.delete_tenant(&id).await?;
                    shared.sessions.invalidate_tenant(&id);
                    shared.exchanges.invalidate_tenant(&id);
                    tracing::info!(tenant.id = %id, "tenant removed");
                    shared.metrics.set_tenants(shared.registry.hosts().len());
                    Ok(empty(StatusCode::NO_CONTENT))
                }
                _ => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
            }
        }
        _ => Err(Problem::not_found("no such operator API path")),
    }
}

async fn ready(shared: &Shared) -> Result<Response<Body>, Problem> {
    if shared.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Problem::unavailable("the gateway is shutting down"));
    }
    match tokio::time::timeout(READY_TIMEOUT, shared.registry.ping()).await {
        Ok(Ok(())) => Ok(text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ready\n".into(),
        )),
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::problem::DisplayChain(&error), "store not ready");
            Err(Problem::unavailable("the tenant store does not answer"))
        }
        Err(_) => Err(Problem::unavailable(
            "the tenant store did not answer in time",
        )),
    }
}

async fn list_tenants(shared: &Shared) -> Result<Response<Body>, Problem> {
    let tenants = shared.registry.tenants().await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "tenants": tenants }),
    ))
}

/// Reads and parses a tenant document, naming the field at fault.
async fn tenant_body<B>(shared: &Shared, req: Request<B>) -> Result<Tenant, Problem>
where
    B: HttpBody<Data = Bytes> + Send,
    B::Error: Into<BoxError>,
{
    let limits = &shared.config.limits;
    let bytes = read_body(
        req.into_body(),
        limits.max_body_bytes,
        limits.body_read_timeout,
    )
    .await?;
    crate::request::parse_json(&bytes)
}

fn only(method: &Method, allowed: &[Method], allow: &'static str) -> Result<(), Problem> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(Problem::method_not_allowed(allow))
    }
}
