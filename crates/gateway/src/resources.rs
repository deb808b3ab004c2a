//! VMs and databases of an account, through one API whatever the cloud, acting with the
//! caller's own short-lived credentials.
//!
//! Resource ids in URLs are scoped to the tenant and account they came from: an id of another
//! account or tenant is `404`, whatever the cloud would say about it.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use credless_exchange::{Credentials, ExchangeRequest};
use credless_registry::model::Tenant;
use credless_registry::{Account, IdempotencyClaim};
use credless_resources::{
    Kind, Resource, ResourceContext, ResourceError, ResourceId, ResourceProvider, ResourceRequest,
};

use crate::app::{Shared, json};
use crate::audit::Audit;
use crate::problem::{Body, Problem};

/// `…/accounts/{id}/resources[/{rid}[/{action}]]`.
pub(crate) async fn route(
    audit: &Audit<'_>,
    account: &Account,
    method: &Method,
    rest: &[&str],
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response<Body>, Problem> {
    let shared = audit.shared;
    match (rest, method) {
        ([], &Method::GET) => {
            let kind = kind_filter(query)?;
            let credentials = credentials(shared, audit, account).await?;
            let provider = provider(shared, account)?;
            let cx = ResourceContext {
                account,
                credentials: &credentials,
            };
            let mut resources = Vec::new();
            for kind in kind.map_or_else(|| vec![Kind::Vm, Kind::Database], |k| vec![k]) {
                resources.extend(provider.list(cx, kind, true).await.map_err(cloud)?);
            }
            let resources: Vec<Resource> = resources
                .into_iter()
                .map(|r| scoped(audit.tenant, r))
                .collect();
            Ok(json(StatusCode::OK, &json!({ "resources": resources })))
        }
        ([], &Method::POST) => create(shared, audit, account, headers, &body).await,
        ([], _) => Err(Problem::method_not_allowed("GET, POST")),
        ([rid], &Method::GET) => {
            let id = unscope(audit.tenant, account, rid)?;
            let credentials = credentials(shared, audit, account).await?;
            let cx = ResourceContext {
                account,
                credentials: &credentials,
            };
            let resource = provider(shared, account)?
                .get(cx, &id)
                .await
                .map_err(cloud)?;
            Ok(json(StatusCode::OK, &scoped(audit.tenant, resource)))
        }
        ([rid], &Method::DELETE) => act(shared, audit, account, rid, Action::Delete).await,
        ([_], _) => Err(Problem::method_not_allowed("GET, DELETE")),
        ([rid, "start"], &Method::POST) => act(shared, audit, account, rid, Action::Start).await,
        ([rid, "stop"], &Method::POST) => act(shared, audit, account, rid, Action::Stop).await,
        ([_, "start" | "stop"], _) => Err(Problem::method_not_allowed("POST")),
        _ => Err(Problem::not_found("no such resource path")),
    }
}

#[derive(Clone, Copy)]
enum Action {
    Start,
    Stop,
    Delete,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Start => "resource.start",
            Action::Stop => "resource.stop",
            Action::Delete => "resource.delete",
        }
    }
}

async fn act(
    shared: &Shared,
    audit: &Audit<'_>,
    account: &Account,
    rid: &str,
    action: Action,
) -> Result<Response<Body>, Problem> {
    let id = unscope(audit.tenant, account, rid)?;
    let result = async {
        let credentials = credentials(shared, audit, account).await?;
        let cx = ResourceContext {
            account,
            credentials: &credentials,
        };
        let provider = provider(shared, account)?;
        let resource = match action {
            Action::Start => provider.start(cx, &id).await,
            Action::Stop => provider.stop(cx, &id).await,
            Action::Delete => provider.delete(cx, &id).await,
        };
        resource.map_err(cloud)
    }
    .await;
    audit
        .record(
            action.name(),
            Some(account.id()),
            Some(&id.native_id),
            &result,
        )
        .await;
    let resource = result?;
    Ok(json(StatusCode::ACCEPTED, &scoped(audit.tenant, resource)))
}

/// `POST …/resources`, made safe to retry by `Idempotency-Key`.
async fn create(
    shared: &Shared,
    audit: &Audit<'_>,
    account: &Account,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response<Body>, Problem> {
    let request: ResourceRequest = crate::request::parse_json(body)?;
    validate(&request)?;
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    let fingerprint =
        URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body));
    if let Some(key) = &key {
        let claim = shared
            .registry
            .claim_idempotency(&audit.tenant.id, account.id(), key, &fingerprint)
            .await?;
        match claim {
            IdempotencyClaim::New => {}
            IdempotencyClaim::Done { response, status } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
                return Ok(json(status, &response));
            }
            IdempotencyClaim::InFlight => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "a request with this Idempotency-Key is still being processed; retry shortly",
                ));
            }
            IdempotencyClaim::Mismatch => {
                return Err(Problem::invalid_field(
                    "Idempotency-Key",
                    "this key was used with a different request body",
                ));
            }
        }
    }

    let result = async {
        let credentials = credentials(shared, audit, account).await?;
        let cx = ResourceContext {
            account,
            credentials: &credentials,
        };
        provider(shared, account)?
            .create(cx, &request)
            .await
            .map_err(cloud)
    }
    .await;
    let native = result
        .as_ref()
        .ok()
        .map(|created| created.resource.native_id.clone());
    audit
        .record(
            "resource.create",
            Some(account.id()),
            native.as_deref().or(Some(&request.name)),
            &result,
        )
        .await;

    let tenant_id = &audit.tenant.id;
    let created = match result {
        Ok(created) => created,
        Err(problem) => {
            if let Some(key) = &key {
                let _ = shared
                    .registry
                    .abandon_idempotency(tenant_id, account.id(), key)
                    .await;
            }
            return Err(problem);
        }
    };
    let resource = scoped(audit.tenant, created.resource);
    if let Some(key) = &key {
        // Stored without the one-time secret: a retry gets the resource, never the secret.
        let stored = serde_json::to_value(&resource).unwrap_or_default();
        let saved = shared
            .registry
            .complete_idempotency(
                tenant_id,
                account.id(),
                key,
                StatusCode::ACCEPTED.as_u16(),
                &stored,
            )
            .await;
        if let Err(error) = saved {
            let error = crate::problem::DisplayChain(&error);
            tracing::warn!(error = %error, "idempotency record not saved");
        }
    }
    let mut answer = serde_json::to_value(&resource).unwrap_or_default();
    if let Some(secret) = created.one_time_secret {
        answer["one_time_password"] = secret.expose().into();
    }
    Ok(json(StatusCode::ACCEPTED, &answer))
}

/// The names clouds accept everywhere: 1-63 of `[a-z0-9-]`, a letter first, no `-` last.
fn validate(request: &ResourceRequest) -> Result<(), Problem> {
    let name = &request.name;
    let name_ok = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(Problem::invalid_field(
            "name",
            "use 1-63 lowercase letters, digits and `-`, starting with a letter",
        ));
    }
    let region_ok = (2..=40).contains(&request.region.len())
        && request
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(Problem::invalid_field(
            "region",
            "name a region such as us-east-1",
        ));
    }
    if request.size.is_empty() || request.size.len() > 64 {
        return Err(Problem::invalid_field(
            "size",
            "use small, medium, large or a native size",
        ));
    }
    if request.tags.len() > 32 {
        return Err(Problem::invalid_field("tags", "at most 32 tags"));
    }
    Ok(())
}

fn kind_filter(query: Option<&str>) -> Result<Option<Kind>, Problem> {
    let Some(query) = query else { return Ok(None) };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == "kind" {
            return match value.as_ref() {
                "vm" => Ok(Some(Kind::Vm)),
                "database" => Ok(Some(Kind::Database)),
                _ => Err(Problem::invalid_field("kind", "use vm or database")),
            };
        }
    }
    Ok(None)
}

async fn credentials(
    shared: &Shared,
    audit: &Audit<'_>,
    account: &Account,
) -> Result<Arc<Credentials>, Problem> {
    let request = ExchangeRequest {
        tenant: audit.tenant,
        identity: audit.identity,
        account,
    };
    shared
        .exchanges
        .credentials(request)
        .await
        .map_err(|error| Problem::from(&error))
}

fn provider<'a>(
    shared: &'a Shared,
    account: &Account,
) -> Result<&'a dyn ResourceProvider, Problem> {
    shared
        .resources
        .iter()
        .find(|p| p.kind() == account.provider())
        .map(|p| p.as_ref())
        .ok_or_else(Problem::internal)
}

fn cloud(error: ResourceError) -> Problem {
    Problem::from(&error)
}

/// What a URL's resource id holds: the tenant and the provider's own id.
#[derive(Serialize, Deserialize)]
struct Scoped {
    t: String,
    r: String,
}

/// Rewrites a provider's id into one bound to this tenant.
fn scoped(tenant: &Tenant, mut resource: Resource) -> Resource {
    let scoped = Scoped {
        t: tenant.id.clone(),
        r: resource.id.clone(),
    };
    resource.id = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&scoped).unwrap_or_default());
    resource
}

/// The provider's id from a URL id, if it belongs to this tenant and account; `404` otherwise.
fn unscope(tenant: &Tenant, account: &Account, rid: &str) -> Result<ResourceId, Problem> {
    let not_found = || Problem::not_found("no such resource in this account");
    let bytes = URL_SAFE_NO_PAD.decode(rid).map_err(|_| not_found())?;
    let scoped: Scoped = serde_json::from_slice(&bytes).map_err(|_| not_found())?;
    if scoped.t != tenant.id {
        return Err(not_found());
    }
    let id = ResourceId::decode(&scoped.r).map_err(|_| not_found())?;
    if id.account != account.id() {
        return Err(not_found());
    }
    Ok(id)
}
