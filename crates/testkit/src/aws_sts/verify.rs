//! Verifies a web identity token as STS does: a JWT of a registered issuer, signed with a key
//! of the issuer's JWKS (RS256 or ES256), not expired.

use std::collections::HashMap;

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::Keys;
use super::endpoints::StsError;

/// The claims of a verified token that the trust checks need.
pub(super) struct Verified {
    pub(super) issuer: String,
    pub(super) subject: String,
    pub(super) audiences: Vec<String>,
}

/// Verifies `token` against the registered issuers at `now` (seconds since the epoch).
pub(super) fn verify(
    token: &str,
    issuers: &HashMap<String, Keys>,
    now: u64,
) -> Result<Verified, StsError> {
    let not_a_jwt = || {
        StsError::sender(
            "InvalidIdentityToken",
            400,
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an \
             Access Token)",
        )
    };
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(not_a_jwt());
    };
    let header = decode_json(header).ok_or_else(not_a_jwt)?;
    let claims = decode_json(payload).ok_or_else(not_a_jwt)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| not_a_jwt())?;

    let issuer = claims["iss"].as_str().unwrap_or_default();
    let Some(keys) = issuers.get(issuer) else {
        return Err(StsError::sender(
            "InvalidIdentityToken",
            400,
            &format!("No OpenIDConnect provider found in your account for {issuer}"),
        ));
    };
    let signing_input = &token[..header_and_payload_len(token)];
    check_signature(&header, &keys.jwks(), signing_input.as_bytes(), &signature)?;

    let expires = claims["exp"].as_u64().unwrap_or(0);
    if expires <= now {
        return Err(StsError::sender(
            "ExpiredTokenException",
            400,
            &format!(
                "Token expired: current date/time {now} must be before the expiration \
                 date/time {expires}"
            ),
        ));
    }

    let audiences = match &claims["aud"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|aud| aud.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Verified {
        issuer: issuer.to_owned(),
        subject: claims["sub"].as_str().unwrap_or_default().to_owned(),
        audiences,
    })
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

/// The length of `header.payload`, the signed part of a compact JWS.
fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

/// Checks the signature with the JWKS key the header names, for RS256 and ES256 only.
fn check_signature(
    header: &Value,
    jwks: &Value,
    message: &[u8],
    signature: &[u8],
) -> Result<(), StsError> {
    let invalid = |message: &str| StsError::sender("InvalidIdentityToken", 400, message);
    let alg = header["alg"].as_str().unwrap_or_default();
    let kty = match alg {
        "RS256" => "RSA",
        "ES256" => "EC",
        _ => {
            return Err(invalid(
                "Unsupported signing algorithm in the web identity token",
            ));
        }
    };
    let kid = header["kid"].as_str();
    let empty = Vec::new();
    let key = jwks["keys"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .filter(|key| key["kty"] == kty)
        .find(|key| kid.is_none_or(|kid| key["kid"] == kid))
        .ok_or_else(|| {
            invalid(
                "Couldn't retrieve verification key from your identity provider, please \
                 reference AssumeRoleWithWebIdentity documentation for requirements",
            )
        })?;

    let verified = match kty {
        "RSA" => {
            let (Some(n), Some(e)) = (member_bytes(key, "n"), member_bytes(key, "e")) else {
                return Err(invalid("The identity provider's key could not be read"));
            };
            RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok()
        }
        _ => {
            let (Some(x), Some(y)) = (member_bytes(key, "x"), member_bytes(key, "y")) else {
                return Err(invalid("The identity provider's key could not be read"));
            };
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok()
        }
    };
    if verified {
        Ok(())
    } else {
        Err(invalid(
            "The web identity token's signature could not be verified",
        ))
    }
}

fn member_bytes(key: &Value, name: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(key[name].as_str()?).ok()
}
