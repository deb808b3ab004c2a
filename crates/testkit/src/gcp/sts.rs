//! The fake Security Token Service: `POST /v1/token`, RFC 8693 token exchange.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{FederatedToken, GcpState, PoolProvider, verify};
use crate::keys::random_token;
use crate::recording::lock;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const SUBJECT_TOKEN_TYPES: [&str; 2] = [
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
];
/// Google's federated tokens live an hour at most, and never past the subject token.
const FEDERATED_LIFETIME: Duration = Duration::from_secs(3600);

impl GcpState {
    /// Exchanges a subject token for a federated access token, or refuses as Google does.
    pub(super) fn token(&self, request: &Request) -> ResponseTemplate {
        if request.headers.contains_key("authorization") {
            return oauth_error(
                400,
                "invalid_request",
                "Client authentication is not supported for this grant; send the request \
                 without an Authorization header.",
            );
        }
        let Some(form) = parameters(request) else {
            return oauth_error(
                400,
                "invalid_request",
                "The request body could not be parsed.",
            );
        };
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();

        if field("grant_type") != TOKEN_EXCHANGE {
            return oauth_error(
                400,
                "unsupported_grant_type",
                &format!("Invalid value for \"grant_type\": {}", field("grant_type")),
            );
        }
        if field("requested_token_type") != ACCESS_TOKEN_TYPE {
            return oauth_error(400, "invalid_request", "Invalid requested_token_type.");
        }
        if !SUBJECT_TOKEN_TYPES.contains(&field("subject_token_type")) {
            return oauth_error(400, "invalid_request", "Invalid subject_token_type.");
        }
        if field("subject_token").is_empty() {
            return oauth_error(400, "invalid_request", "Missing subject_token.");
        }
        let audience = field("audience");
        if !is_provider_audience(audience) {
            return oauth_error(400, "invalid_request", "Invalid value for \"audience\".");
        }
        let provider = lock(&self.providers)
            .iter()
            .find(|known| known.audience() == audience && !known.disabled)
            .cloned();
        let Some(provider) = provider else {
            return oauth_error(
                400,
                "invalid_target",
                "The target service indicated by the \"audience\" parameters is invalid. This \
                 might either be because the pool or provider is disabled or deleted or because \
                 it doesn't exist.",
            );
        };

        match admit(&provider, field("subject_token")) {
            Ok((claims, expires_at)) => self.issue(&provider, claims, expires_at),
            Err(Refusal { error, description }) => oauth_error(400, error, &description),
        }
    }

    fn issue(
        &self,
        provider: &PoolProvider,
        claims: Value,
        expires_at: SystemTime,
    ) -> ResponseTemplate {
        let token = format!("fed.{}", random_token(32));
        let lifetime = expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .min(FEDERATED_LIFETIME);
        lock(&self.federated).insert(
            token.clone(),
            FederatedToken {
                project_number: provider.project_number.clone(),
                pool_id: provider.pool_id.clone(),
                claims,
                expires_at: SystemTime::now() + lifetime,
            },
        );
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/json; charset=utf-8")
            .set_body_json(json!({
                "access_token": token,
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": lifetime.as_secs(),
            }))
    }
}

/// Why the STS refuses a subject token: the OAuth error code and Google's description.
struct Refusal {
    error: &'static str,
    description: String,
}

/// Verifies the subject token as the provider demands, returning its claims and `exp`.
fn admit(provider: &PoolProvider, token: &str) -> Result<(Value, SystemTime), Refusal> {
    let invalid_grant = |description: String| Refusal {
        error: "invalid_grant",
        description,
    };

    let jwks = match &provider.jwks {
        Some(uploaded) => uploaded.clone(),
        None => verify::issuer_keys(&provider.issuer).map_err(|problem| {
            invalid_grant(format!(
                "Unable to retrieve the issuer's public keys: {problem}."
            ))
        })?,
    };
    let claims = verify::verified_claims(token, &jwks)
        .map_err(|problem| invalid_grant(format!("Invalid ID Token: {problem}.")))?;

    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss != provider.issuer {
        return Err(invalid_grant(format!(
            "The issuer in ID Token {iss} does not match the expected ISSUER {}.",
            provider.issuer
        )));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|aud| provider.admits_audience(aud)) {
        return Err(invalid_grant(format!(
            "The audience in ID Token [{}] does not match the expected audience.",
            audiences.join(", ")
        )));
    }
    let Some(exp) = claims.get("exp").and_then(Value::as_u64) else {
        return Err(invalid_grant("The ID Token has no expiry.".to_owned()));
    };
    let expires_at = UNIX_EPOCH + Duration::from_secs(exp);
    if expires_at <= SystemTime::now() {
        return Err(invalid_grant(format!("ID Token expired at {exp}.")));
    }
    if claims
        .get("sub")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(invalid_grant("The ID Token has no subject.".to_owned()));
    }
    if let Some(condition) = &provider.condition
        && !condition.admits(&claims)
    {
        return Err(Refusal {
            error: "unauthorized_client",
            description: "The given credential is rejected by the attribute condition.".into(),
        });
    }
    Ok((claims, expires_at))
}

/// The form fields, or the same fields sent as JSON with camelCase names.
fn parameters(request: &Request) -> Option<HashMap<String, String>> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return Some(
            url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect(),
        );
    }
    if !content_type.starts_with("application/json") {
        return None;
    }
    let Value::Object(members) = serde_json::from_slice(&request.body).ok()? else {
        return None;
    };
    let snake = |name: &str| {
        name.chars().fold(String::new(), |mut out, c| {
            if c.is_ascii_uppercase() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            out
        })
    };
    let fields = members
        .into_iter()
        .filter_map(|(name, value)| Some((snake(&name), value.as_str()?.to_owned())));
    Some(fields.collect())
}

fn is_provider_audience(audience: &str) -> bool {
    let parts: Vec<&str> = audience.split('/').collect();
    matches!(
        parts.as_slice(),
        ["", "", "iam.googleapis.com", "projects", number, "locations", "global",
         "workloadIdentityPools", pool, "providers", provider]
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
                && !pool.is_empty() && !provider.is_empty()
    )
}

/// An OAuth 2.0 error response: `{"error", "error_description"}`.
fn oauth_error(status: u16, error: &str, description: &str) -> ResponseTemplate {
    let body = json!({"error": error, "error_description": description});
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/json; charset=utf-8")
        .set_body_string(body.to_string())
}
