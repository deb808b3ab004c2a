//! The fake IAM Service Account Credentials API: `generateAccessToken`.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{FederatedToken, GcpState, google_error};
use crate::keys::random_token;
use crate::recording::lock;

const WORKLOAD_IDENTITY_USER_DENIED: &str =
    "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).";
const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 \
     access token, login cookie or other valid authentication credential. See \
     https://developers.google.com/identity/sign-in/web/devconsole-project.";
/// The longest lifetime Google grants (with the organisation policy allowing it).
const MAX_LIFETIME_SECS: u64 = 43_200;

impl GcpState {
    /// Issues an access token of the service account to a federated principal granted
    /// `roles/iam.workloadIdentityUser` on it, or refuses as Google does.
    pub(super) fn generate_access_token(&self, request: &Request) -> ResponseTemplate {
        let Some(email) = service_account_of(request.url.path()) else {
            return google_error(404, "Requested entity was not found.", "NOT_FOUND");
        };

        let bearer = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let principal = bearer.and_then(|token| self.federated_principal(token));
        let Some((project_number, pool_id, claims)) = principal else {
            return google_error(401, UNAUTHENTICATED, "UNAUTHENTICATED");
        };

        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return invalid_argument("Invalid JSON payload received.");
        };
        let scopes = body.get("scope").and_then(Value::as_array);
        if scopes.is_none_or(|scopes| scopes.is_empty() || !scopes.iter().all(Value::is_string)) {
            return invalid_argument("Scope required.");
        }
        let lifetime = match body.get("lifetime") {
            None => Some(Duration::from_secs(3600)),
            Some(value) => value.as_str().and_then(parse_lifetime),
        };
        let Some(lifetime) = lifetime else {
            return invalid_argument(
                "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration).",
            );
        };

        let members = lock(&self.service_accounts).get(&email).cloned();
        let Some(members) = members else {
            return google_error(
                404,
                &format!("Not found; Gaia id not found for email {email}"),
                "NOT_FOUND",
            );
        };
        let pool = format!(
            "iam.googleapis.com/projects/{project_number}/locations/global/\
             workloadIdentityPools/{pool_id}"
        );
        if !members
            .iter()
            .any(|member| is_member(member, &pool, &claims))
        {
            return google_error(403, WORKLOAD_IDENTITY_USER_DENIED, "PERMISSION_DENIED");
        }

        let lifetime = lock(&self.lifetime_cap).map_or(lifetime, |cap| lifetime.min(cap));
        self.tokens_issued.fetch_add(1, Ordering::SeqCst);
        let expire_time = humantime::format_rfc3339_seconds(SystemTime::now() + lifetime);
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/json; charset=UTF-8")
            .set_body_json(json!({
                "accessToken": format!("ya29.fake-{}", random_token(32)),
                "expireTime": expire_time.to_string(),
            }))
    }

    /// The pool and claims behind a live federated token.
    fn federated_principal(&self, token: &str) -> Option<(String, String, Value)> {
        let federated = lock(&self.federated);
        let FederatedToken {
            project_number,
            pool_id,
            claims,
            expires_at,
        } = federated.get(token)?;
        (*expires_at > SystemTime::now())
            .then(|| (project_number.clone(), pool_id.clone(), claims.clone()))
    }
}

/// The email in `/v1/projects/<project>/serviceAccounts/<email>:generateAccessToken`.
fn service_account_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/projects/")?;
    let (_project, rest) = rest.split_once("/serviceAccounts/")?;
    let email = rest.strip_suffix(":generateAccessToken")?;
    let email = email.replace("%40", "@");
    (!email.is_empty() && !email.contains('/')).then_some(email)
}

/// Whether the federated identity with `claims` in `pool` is `member`, with the attribute
/// mapping `google.subject=sub`, `google.groups=groups`, `attribute.<name>=<name>`.
fn is_member(member: &str, pool: &str, claims: &Value) -> bool {
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if let Some(subject) = member
        .strip_prefix("principal://")
        .and_then(|rest| rest.strip_prefix(pool))
        .and_then(|rest| rest.strip_prefix("/subject/"))
    {
        return claim("sub") == Some(subject);
    }
    let Some(set) = member
        .strip_prefix("principalSet://")
        .and_then(|rest| rest.strip_prefix(pool))
    else {
        return false;
    };
    if set == "/*" {
        return true;
    }
    if let Some(group) = set.strip_prefix("/group/") {
        let groups = claims.get("groups").and_then(Value::as_array);
        return groups.is_some_and(|groups| groups.iter().any(|g| g.as_str() == Some(group)));
    }
    set.strip_prefix("/attribute.")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(name, value)| claim(name) == Some(value))
}

/// A protobuf JSON duration in whole seconds, `"3600s"`, within Google's limits.
fn parse_lifetime(value: &str) -> Option<Duration> {
    let seconds: u64 = value.strip_suffix('s')?.parse().ok()?;
    (1..=MAX_LIFETIME_SECS)
        .contains(&seconds)
        .then(|| Duration::from_secs(seconds))
}

fn invalid_argument(message: &str) -> ResponseTemplate {
    google_error(400, message, "INVALID_ARGUMENT")
}
