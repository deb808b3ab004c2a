//! The HTTP endpoints of the fake OIDC provider.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use url::Url;
use wiremock::{Request, Respond, ResponseTemplate};

use super::{
    AUTHORIZE_PATH, DISCOVERY_PATH, Grant, ID_TOKEN_LIFETIME_SECS, JWKS_PATH, ProviderState,
    TOKEN_PATH,
};
use crate::keys::random_token;
use crate::recording::{lock, query_param};

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

    /// Approves the login as the next user and redirects back with a code.
    pub(super) fn authorize(&self, request: &Request) -> ResponseTemplate {
        let client_id = query_param(request, "client_id").unwrap_or_default();
        let response_type = query_param(request, "response_type");
        let redirect_uri =
            query_param(request, "redirect_uri").and_then(|uri| Url::parse(&uri).ok());
        let (Some(mut redirect_uri), false, Some("code")) =
            (redirect_uri, client_id.is_empty(), response_type.as_deref())
        else {
            return oauth_error(400, "invalid_request");
        };

        let code = random_token(24);
        let grant = Grant {
            user: lock(&self.next_user).clone(),
            client_id,
            nonce: query_param(request, "nonce"),
        };
        lock(&self.grants).insert(code.clone(), grant);

        {
            let mut query = redirect_uri.query_pairs_mut();
            query.append_pair("code", &code);
            if let Some(state) = query_param(request, "state") {
                query.append_pair("state", &state);
            }
        }
        ResponseTemplate::new(302).insert_header("location", redirect_uri.as_str())
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
            ("GET", AUTHORIZE_PATH) => state.authorize(request),
            ("POST", TOKEN_PATH) => self.token(request),
            _ => ResponseTemplate::new(404),
        }
    }
}

impl ProviderResponder {
    /// The token endpoint: redeems an authorization code sent as a form body.
    fn token(&self, request: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
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

fn oauth_error(status: u16, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "error": error }))
}
