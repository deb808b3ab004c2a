//! The fakes exercised over real HTTP, as Credless and its tests will use them.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod oauth2_proxy;
mod oidc;

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

/// A client like Credless's: no redirects, no proxy, a timeout.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub(crate) async fn fetch_jwks(jwks_uri: &str) -> JwkSet {
    client()
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies `token` the way Credless must: the key chosen by `kid` from the published JWKS,
/// the algorithm from our own allow-list and the key's type, never from the token alone.
pub(crate) fn verify(
    jwks: &JwkSet,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<Value, String> {
    let header = decode_header(token).map_err(|error| format!("header: {error}"))?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("unknown kid")?;
    let algorithm = match jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
        jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
        _ => return Err("symmetric or unknown key type".into()),
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|error| format!("jwk: {error}"))?;
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.leeway = 0;
    decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|error| format!("decode: {error}"))
}

/// The `Set-Cookie` values of a response.
pub(crate) fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// The `Location` of a redirect.
pub(crate) fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}
