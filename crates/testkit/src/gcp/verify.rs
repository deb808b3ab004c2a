//! Verifying a subject token as the STS does: the issuer's published keys, found through its
//! discovery document, and an asymmetric signature (RS256 or ES256) by the key its `kid`
//! names. The algorithm comes from the key's type, never from the token alone.

use std::time::Duration;

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Fetches the issuer's JWKS through `<issuer>/.well-known/openid-configuration`.
///
/// Runs on its own thread and runtime: the fake answers from inside the mock server's
/// runtime, which must not be blocked on itself, and the issuer is another server.
pub(super) fn issuer_keys(issuer: &str) -> Result<Value, String> {
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|error| error.to_string())?;
                runtime.block_on(async {
                    let discovery = fetch_json(&discovery_url).await?;
                    let jwks_uri = discovery
                        .get("jwks_uri")
                        .and_then(Value::as_str)
                        .ok_or("the discovery document has no jwks_uri")?;
                    fetch_json(jwks_uri).await
                })
            })
            .join()
            .unwrap_or_else(|_| Err("fetching the keys panicked".to_owned()))
    })
}

async fn fetch_json(url: &str) -> Result<Value, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|error| error.to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|_| format!("{url} could not be reached"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    response
        .json()
        .await
        .map_err(|_| format!("{url} is not JSON"))
}

/// The claims of `token` if one of `jwks`'s keys signed it.
pub(super) fn verified_claims(token: &str, jwks: &Value) -> Result<Value, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS".to_owned());
    };
    let header = decode_json(header)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "the signature is not base64url")?;
    let signed = &token.as_bytes()[..header_and_payload_len(token)];

    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kid = header.get("kid").and_then(Value::as_str);
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no keys")?;
    let key = keys
        .iter()
        .find(|key| kid.is_some() && key.get("kid").and_then(Value::as_str) == kid)
        .ok_or("no published key matches the token's kid")?;

    let text = |name: &str| key.get(name).and_then(Value::as_str).unwrap_or_default();
    let verified = match (text("kty"), alg) {
        ("RSA", "RS256") => {
            let n = decode(text("n"))?;
            let e = decode(text("e"))?;
            RsaPublicKeyComponents { n: &n, e: &e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, &signature)
                .is_ok()
        }
        ("EC", "ES256") if text("crv") == "P-256" => {
            let mut point = vec![0x04];
            point.extend(decode(text("x"))?);
            point.extend(decode(text("y"))?);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, &signature)
                .is_ok()
        }
        _ => return Err(format!("the algorithm {alg:?} does not fit the key")),
    };
    if !verified {
        return Err("the signature does not verify".to_owned());
    }
    decode_json(payload)
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn decode(part: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| "a part is not base64url".to_owned())
}

fn decode_json(part: &str) -> Result<Value, String> {
    serde_json::from_slice(&decode(part)?).map_err(|_| "a part is not JSON".to_owned())
}
