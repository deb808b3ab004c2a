//! Cloud accounts of a tenant: onboarding by tenant admins, the trust setup to copy into each
//! cloud, and `verify`, which exchanges the caller's own ID token.

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use serde_json::{Value, json};

use credless_exchange::ExchangeRequest;
use credless_registry::model::Tenant;
use credless_registry::{Account, Put};
use credless_session::Identity;

use crate::api::is_tenant_admin;
use crate::app::{Shared, empty, json};
use crate::audit::Audit;
use crate::problem::{Body, Problem};

/// `GET /api/v1/accounts`: the accounts the caller may use (all of them for tenant admins).
pub(crate) async fn list(
    shared: &Shared,
    tenant: &Tenant,
    identity: &Identity,
) -> Result<Response<Body>, Problem> {
    let admin = is_tenant_admin(tenant, identity);
    let accounts: Vec<Account> = shared
        .registry
        .accounts(&tenant.id)
        .await?
        .into_iter()
        .filter(|account| admin || account.allows(&identity.groups))
        .collect();
    Ok(json(StatusCode::OK, &json!({ "accounts": accounts })))
}

/// `…/accounts/{id}`, its `trust` and `verify` actions and its `resources`.
pub(crate) async fn one(
    audit: &Audit<'_>,
    method: &Method,
    id: &str,
    rest: &[&str],
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response<Body>, Problem> {
    let (shared, tenant, identity) = (audit.shared, audit.tenant, audit.identity);
    let admin = is_tenant_admin(tenant, identity);
    match (rest, method) {
        ([], &Method::PUT) => {
            let result = async {
                require_admin(admin)?;
                let account: Account = crate::request::parse_json(&body)?;
                Ok(shared.registry.put_account(&tenant.id, id, account).await?)
            }
            .await;
            audit.record("account.put", Some(id), None, &result).await;
            let (put, stored) = result?;
            shared.exchanges.invalidate_account(&tenant.id, id);
            let status = if put == Put::Created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json(status, &stored))
        }
        ([], &Method::DELETE) => {
            let result = async {
                require_admin(admin)?;
                Ok(shared.registry.delete_account(&tenant.id, id).await?)
            }
            .await;
            audit
                .record("account.delete", Some(id), None, &result)
                .await;
            result?;
            shared.exchanges.invalidate_account(&tenant.id, id);
            Ok(empty(StatusCode::NO_CONTENT))
        }
        ([], &Method::GET) => {
            let account = usable(shared, tenant, identity, id).await?;
            Ok(json(StatusCode::OK, &account))
        }
        ([], _) => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
        (["trust"], &Method::GET) => {
            require_admin(admin)?;
            let account = existing(shared, tenant, id).await?;
            Ok(json(StatusCode::OK, &trust(tenant, identity, &account)))
        }
        (["trust"], _) => Err(Problem::method_not_allowed("GET")),
        (["verify"], &Method::POST) => {
            let result = async {
                let account = usable(shared, tenant, identity, id).await?;
                verify(shared, tenant, identity, &account).await
            }
            .await;
            audit
                .record("account.verify", Some(id), None, &result)
                .await;
            result
        }
        (["verify"], _) => Err(Problem::method_not_allowed("POST")),
        (["resources", rest @ ..], _) => {
            let account = usable(shared, tenant, identity, id).await?;
            crate::resources::route(audit, &account, method, rest, query, headers, body).await
        }
        _ => Err(Problem::not_found("no such account path")),
    }
}

/// Exchanges the caller's token for this account and says who the cloud sees.
async fn verify(
    shared: &Shared,
    tenant: &Tenant,
    identity: &Identity,
    account: &Account,
) -> Result<Response<Body>, Problem> {
    let request = ExchangeRequest {
        tenant,
        identity,
        account,
    };
    let credentials = shared
        .exchanges
        .credentials(request)
        .await
        .map_err(|error| {
            tracing::info!(
                account.id = %account.id(),
                provider = %account.provider(),
                cloud_code = error.cloud_code().unwrap_or(""),
                "exchange refused"
            );
            Problem::from(&error)
        })?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "ok": true,
            "provider": account.provider(),
            "cloud_identity": credentials.cloud_identity(),
            "expires_at": rfc3339(credentials.expires_at()),
        }),
    ))
}

/// What the tenant admin configures in the account's cloud.
fn trust(tenant: &Tenant, identity: &Identity, account: &Account) -> Value {
    let subject = identity.subject.as_str();
    match account {
        Account::Aws(aws) => {
            let guidance = credless_aws::trust::trust_guidance(&tenant.oidc, aws, &[subject]);
            json!({ "provider": "aws", "aws": guidance })
        }
        Account::Azure(azure) => {
            let guidance = credless_azure::trust_guidance(&tenant.oidc, azure, subject);
            json!({ "provider": "azure", "text": guidance.text(), "azure": guidance })
        }
        Account::Gcp(gcp) => {
            let guidance =
                credless_gcp::trust_guidance(&tenant.oidc.issuer, &tenant.oidc.audiences, gcp);
            json!({ "provider": "gcp", "gcp": guidance })
        }
    }
}

/// The account, if it exists; `404` otherwise.
async fn existing(shared: &Shared, tenant: &Tenant, id: &str) -> Result<Account, Problem> {
    shared
        .registry
        .account(&tenant.id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no account with id `{id}`")))
}

/// The account, if the caller may use it: `403 forbidden` outside its `allowed_groups`.
async fn usable(
    shared: &Shared,
    tenant: &Tenant,
    identity: &Identity,
    id: &str,
) -> Result<Account, Problem> {
    let account = existing(shared, tenant, id).await?;
    if is_tenant_admin(tenant, identity) || account.allows(&identity.groups) {
        return Ok(account);
    }
    tracing::info!(account.id = %id, subject = %identity.subject, "account use refused");
    Err(Problem::forbidden(
        "you are not in a group allowed to use this account",
    ))
}

fn require_admin(admin: bool) -> Result<(), Problem> {
    if admin {
        Ok(())
    } else {
        Err(Problem::forbidden("only tenant admins may do this"))
    }
}

/// `2026-01-01T00:00:00Z`.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
