//! The HTTP endpoints of the fake OIDC provider.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use url::Url;
use wiremock::{Request, Respond, ResponseTemplate};

use super::sign_in;
use super::{
    AUTHORIZE_PATH, DISCOVERY_PATH, Grant, ID_TOKEN_LIFETIME_SECS, JWKS_PATH, ProviderState,
    TOKEN_PATH,
};
use crate::keys::random_token;
use crate::recording::lock;

impl ProviderState {
    pub(super) fn discovery(&self) -> Value {
        let issuer = &self.issuer;
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
            "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
            "jwks_uri": format!("{issuer}{JWKS_PATH}"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "scopes_supported": ["openid", "email", "profile", "groups"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": [
                "iss", "aud", "sub", "iat", "nbf", "exp", "nonce",
                "email", "email_verified", "preferred_username", "groups",
            ],
        })
    }

    /// Approves the login as the next user and redirects back with a code; `params` are the
    /// authorize request's query (or, from the sign-in page, its form).
    pub(super) fn authorize(&self, params: &HashMap<String, String>) -> ResponseTemplate {
        let Some(request) = AuthorizeRequest::from_params(params) else {
            return oauth_error(400, "invalid_request");
        };
        let AuthorizeRequest {
            client_id,
            mut redirect_uri,
            state,
            nonce,
        } = request;

        let code = random_token(24);
        let grant = Grant {
            user: lock(&self.next_user).clone(),
            client_id,
            nonce,
        };
        lock(&self.grants).insert(code.clone(), grant);

        {
            let mut query = redirect_uri.query_pairs_mut();
            query.append_pair("code", &code);
            if let Some(state) = state {
                query.append_pair("state", &state);
            }
        }
        ResponseTemplate::new(302).insert_header("location", redirect_uri.as_str())
    }

    /// The sign-in page for a valid authorize request, else the same error as approving.
    fn sign_in(&self, params: &HashMap<String, String>) -> ResponseTemplate {
        if AuthorizeRequest::from_params(params).is_none() {
            return oauth_error(400, "invalid_request");
        }
        let user = lock(&self.next_user).clone();
        ResponseTemplate::new(200)
            .insert_header("cache-control", "no-store")
            .set_body_raw(sign_in::page(&user, params), "text/html; charset=utf-8")
    }
}

/// The parts of an authorization request the provider uses.
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: Url,
    state: Option<String>,
    nonce: Option<String>,
}

impl AuthorizeRequest {
    /// A code-flow request with a client id and an absolute redirect URI, else `None`.
    fn from_params(params: &HashMap<String, String>) -> Option<Self> {
        let client_id = params.get("client_id").filter(|id| !id.is_empty())?.clone();
        if params.get("response_type").map(String::as_str) != Some("code") {
            return None;
        }
        let redirect_uri = Url::parse(params.get("redirect_uri")?).ok()?;
        Some(Self {
            client_id,
            redirect_uri,
            state: params.get("state").cloned(),
            nonce: params.get("nonce").cloned(),
        })
    }
}

/// Answers every request to the provider's server.
pub(super) struct ProviderResponder {
    pub(super) state: Arc<ProviderState>,
}

impl Respond for ProviderResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = &self.state;
        match (request.method.as_str(), request.url.path()) {
            ("GET", DISCOVERY_PATH) => {
                state.discovery_requests.fetch_add(1, Ordering::SeqCst);
                ResponseTemplate::new(200).set_body_json(state.discovery())
            }
            ("GET", JWKS_PATH) => {
                state.jwks_requests.fetch_add(1, Ordering::SeqCst);
                let delay = *lock(&state.jwks_delay);
                let response = if state.jwks_failing.load(Ordering::SeqCst) {
                    ResponseTemplate::new(503).set_body_string("jwks unavailable")
                } else {
                    ResponseTemplate::new(200).set_body_json(state.jwks())
                };
                response.set_delay(delay)
            }
            ("GET", AUTHORIZE_PATH) => {
                let params = query_params(request);
                if state.sign_in_page.load(Ordering::SeqCst) {
                    state.sign_in(&params)
                } else {
                    state.authorize(&params)
                }
            }
            ("POST", AUTHORIZE_PATH) => state.authorize(&form_params(request)),
            ("POST", TOKEN_PATH) => self.token(request),
            _ => ResponseTemplate::new(404),
        }
    }
}

impl ProviderResponder {
    /// The token endpoint: redeems an authorization code sent as a form body.
    fn token(&self, request: &Request) -> ResponseTemplate {
        let form = form_params(request);
        if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return oauth_error(400, "unsupported_grant_type");
        }
        let code = form.get("code").map(String::as_str).unwrap_or_default();
        let Some(redeemed) = self.state.redeem(code) else {
            return oauth_error(400, "invalid_grant");
        };
        ResponseTemplate::new(200)
            .insert_header("cache-control", "no-store")
            .set_body_json(json!({
                "access_token": random_token(24),
                "token_type": "Bearer",
                "expires_in": ID_TOKEN_LIFETIME_SECS,
                "scope": "openid email profile groups",
                "id_token": redeemed.id_token,
            }))
    }
}

/// The query parameters, the first value of each.
fn query_params(request: &Request) -> HashMap<String, String> {
    first_values(request.url.query_pairs())
}

/// The `application/x-www-form-urlencoded` body's fields, the first value of each.
fn form_params(request: &Request) -> HashMap<String, String> {
    first_values(url::form_urlencoded::parse(&request.body))
}

fn first_values<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> HashMap<String, String> {
    let mut values = HashMap::new();
    for (key, value) in pairs {
        values
            .entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    values
}

fn oauth_error(status: u16, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "error": error }))
}
