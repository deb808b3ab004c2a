//! Verification of the OIDC ID token a tenant's proxy passes with a session.
//!
//! The signature is checked against the configured issuer's published keys with an asymmetric
//! algorithm that fits the key; `iss` must equal the tenant's issuer and `aud` must name one of
//! its audiences; `exp`, `iss`, `aud` and `sub` are required. `nbf` is optional, because most
//! IdPs do not put it in ID tokens, but a present `nbf` must not be in the future. The token's
//! `jku`, `jwk`, `x5u` and `x5c` headers are never used.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use credless_registry::model::Oidc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::SessionError;
use crate::jwks::KeyStore;

/// The algorithms a token may be signed with; everything symmetric is excluded.
const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// Longest token considered; a larger one is refused before any parsing.
const MAX_TOKEN_BYTES: usize = 32 * 1024;

/// What a verified token says about its holder.
#[derive(Debug)]
pub(crate) struct VerifiedToken {
    pub(crate) subject: String,
    /// The `email` claim, unless the token says `email_verified: false`.
    pub(crate) email: Option<String>,
    /// The token says `email_verified: false`: no email may be taken from anywhere.
    pub(crate) email_refused: bool,
    pub(crate) preferred_username: Option<String>,
    /// The `groups` claim, when the token has one.
    pub(crate) groups: Option<Vec<String>>,
    pub(crate) expires_at: SystemTime,
}

/// Verifies `token` for a tenant whose IdP is `oidc`.
///
/// Fails with [`SessionError::TokenInvalid`] for any token that does not pass, or with
/// [`SessionError::IdpUnavailable`] when the issuer's keys cannot be had.
pub(crate) async fn verify(
    keys: &KeyStore,
    oidc: &Oidc,
    token: &str,
    leeway: Duration,
) -> Result<VerifiedToken, SessionError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(SessionError::token("token too large"));
    }
    // Unknown algorithms such as `none` fail here, as a header that cannot be parsed.
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| SessionError::token("malformed header or unsupported algorithm"))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(SessionError::token("signing algorithm not allowed"));
    }
    if header.crit.is_some() {
        return Err(SessionError::token("token has critical header extensions"));
    }

    let key = keys.key(&oidc.issuer, header.kid.as_deref()).await?;
    if !key.allows(header.alg) {
        return Err(SessionError::token(
            "signing algorithm does not match the key",
        ));
    }

    let mut validation = Validation::new(header.alg);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[&oidc.issuer]);
    validation.set_audience(&oidc.audiences);
    validation.leeway = leeway.as_secs();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
        .map_err(|error| refusal(error.kind()))?
        .claims;

    let subject = claims.sub.filter(|sub| !sub.is_empty());
    let subject = subject.ok_or(SessionError::token("missing sub claim"))?;
    let exp = claims.exp.ok_or(SessionError::token("missing exp claim"))?;
    let email_refused = claims.email_verified == Some(false);
    Ok(VerifiedToken {
        subject,
        email: claims.email.filter(|_| !email_refused),
        email_refused,
        preferred_username: claims.preferred_username,
        groups: claims.groups.map(Groups::into_vec),
        expires_at: UNIX_EPOCH + Duration::from_secs(exp),
    })
}

/// The claims read from a token. Their types are strict: a claim of the wrong JSON type
/// refuses the token. `iss`, `aud` and `nbf` are checked by `jsonwebtoken` alone.
#[derive(Deserialize)]
struct Claims {
    #[expect(dead_code, reason = "read only to refuse a non-string iss")]
    iss: Option<String>,
    sub: Option<String>,
    #[expect(dead_code, reason = "read only to refuse an aud of the wrong type")]
    aud: Option<Audience>,
    exp: Option<u64>,
    email: Option<String>,
    email_verified: Option<bool>,
    preferred_username: Option<String>,
    groups: Option<Groups>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(#[expect(dead_code, reason = "only its type is checked")] String),
    Many(#[expect(dead_code, reason = "only its type is checked")] Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Groups {
    Many(Vec<String>),
    One(String),
}

impl Groups {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::Many(groups) => groups,
            Self::One(group) => vec![group],
        }
    }
}

/// The reason given for a refused token; never any part of the token.
fn refusal(kind: &ErrorKind) -> SessionError {
    SessionError::token(match kind {
        ErrorKind::ExpiredSignature => "token expired",
        ErrorKind::ImmatureSignature => "token not yet valid",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            "signing algorithm not allowed"
        }
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "missing exp claim",
            "iss" => "missing iss claim",
            "aud" => "missing or malformed aud claim",
            "sub" => "missing sub claim",
            _ => "missing required claim",
        },
        ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => {
            "claims malformed or of a wrong type"
        }
        ErrorKind::InvalidAlgorithmName => "malformed header or unsupported algorithm",
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => "malformed token",
        _ => "token could not be verified",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> Result<Claims, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn claims_of_the_wrong_json_type_do_not_parse() {
        for bad in [
            serde_json::json!({"aud": 123}),
            serde_json::json!({"aud": [1, 2]}),
            serde_json::json!({"iss": ["https://id.example"]}),
            serde_json::json!({"sub": 7}),
            serde_json::json!({"exp": "soon"}),
            serde_json::json!({"groups": {"admins": true}}),
        ] {
            assert!(claims(bad.clone()).is_err(), "{bad}");
        }
        assert!(claims(serde_json::json!({"aud": ["a", "b"], "groups": "ops"})).is_ok());
    }

    #[test]
    fn a_single_group_string_becomes_one_group() {
        let parsed = claims(serde_json::json!({"groups": "ops"})).unwrap();
        assert_eq!(
            parsed.groups.map(Groups::into_vec),
            Some(vec!["ops".to_owned()])
        );
    }

    #[test]
    fn refusals_name_the_rule_not_the_token() {
        let error = refusal(&ErrorKind::MissingRequiredClaim("aud".into()));
        assert_eq!(
            error.to_string(),
            "the ID token was refused: missing or malformed aud claim"
        );
    }
}
