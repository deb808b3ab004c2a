//! Reading and verifying a client assertion as Entra does: a compact JWS whose issuer's
//! published keys (found through its discovery document) verify an RS256 or ES256 signature.

use std::time::Duration;

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// A decoded, not yet verified assertion.
pub(super) struct Assertion<'a> {
    header: Value,
    pub(super) claims: Value,
    signed: &'a [u8],
    signature: Vec<u8>,
}

impl<'a> Assertion<'a> {
    /// Decodes a compact JWS; `None` when it is not one.
    pub(super) fn parse(token: &'a str) -> Option<Self> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let header = decode_object(header)?;
        let claims = decode_object(payload)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let signed = &token.as_bytes()[..token.rfind('.')?];
        Some(Self {
            header,
            claims,
            signed,
            signature,
        })
    }

    /// A string claim, empty when absent.
    pub(super) fn claim(&self, name: &str) -> &str {
        self.claims[name].as_str().unwrap_or_default()
    }

    /// The `aud` claim as a list, whether it is one string or an array.
    pub(super) fn audiences(&self) -> Vec<&str> {
        match &self.claims["aud"] {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Checks the signature with the key of `jwks` the header's `kid` names.
    ///
    /// The algorithm must be RS256 or ES256 and match the key's type. Fails with Entra's reason.
    pub(super) fn verify(&self, jwks: &Value) -> Result<(), &'static str> {
        let kty = match self.header["alg"].as_str() {
            Some("RS256") => "RSA",
            Some("ES256") => "EC",
            _ => return Err("The signing algorithm is not supported."),
        };
        let kid = self.header["kid"]
            .as_str()
            .ok_or("The key was not found.")?;
        let key = jwks["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|key| key["kid"] == kid && key["kty"] == kty)
            .ok_or("The key was not found.")?;

        let verified = if kty == "RSA" {
            let (Some(n), Some(e)) = (member_bytes(key, "n"), member_bytes(key, "e")) else {
                return Err("The key could not be read.");
            };
            RsaPublicKeyComponents { n, e }
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    self.signed,
                    &self.signature,
                )
                .is_ok()
        } else {
            let (Some(x), Some(y)) = (member_bytes(key, "x"), member_bytes(key, "y")) else {
                return Err("The key could not be read.");
            };
            let point = [&[0x04][..], &x, &y].concat();
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(self.signed, &self.signature)
                .is_ok()
        };
        if verified {
            Ok(())
        } else {
            Err("The provided signature value did not match the expected signature value.")
        }
    }
}

/// Fetches the issuer's JWKS through `{issuer}/.well-known/openid-configuration`.
///
/// Runs on a thread and runtime of its own: the fake answers from inside its server's
/// runtime, which must not block on itself, while the issuer is another server.
pub(super) fn issuer_keys(issuer: &str) -> Result<Value, ()> {
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|_| ())?;
                runtime.block_on(async {
                    let document = fetch_json(&discovery).await?;
                    let jwks_uri = document["jwks_uri"].as_str().ok_or(())?;
                    fetch_json(jwks_uri).await
                })
            })
            .join()
            .unwrap_or(Err(()))
    })
}

async fn fetch_json(url: &str) -> Result<Value, ()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|_| ())?;
    let response = client.get(url).send().await.map_err(|_| ())?;
    if !response.status().is_success() {
        return Err(());
    }
    response.json().await.map_err(|_| ())
}

fn decode_object(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

fn member_bytes(key: &Value, name: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(key[name].as_str()?).ok()
}
