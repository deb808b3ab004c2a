//! Compact JWS tokens signed by hand, so tests can build valid tokens and forged ones alike.

use serde_json::{Map, Value, json};

use crate::keys::{EcKey, RsaKey, b64url, hs256};

/// Which key signs a token minted by [`OidcProvider::mint_with`](crate::OidcProvider::mint_with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenKey {
    /// The provider's current RSA key, `RS256`, published in the JWKS.
    #[default]
    Rsa,
    /// The provider's EC key, `ES256` on P-256, published in the JWKS.
    Ec,
    /// No signature at all: header `alg: none` and an empty third part.
    AlgNone,
    /// `HS256` keyed with the current RSA public key's bytes: the algorithm confusion attack.
    /// A verifier that takes the algorithm from the token and the key material from the JWKS
    /// accepts it.
    HmacWithRsaPublicKey(PublicKeyBytes),
    /// `RS256` with an RSA key that the JWKS never publishes, under the kid
    /// [`UNPUBLISHED_KID`](crate::UNPUBLISHED_KID) unless the header overrides name another.
    Unpublished,
}

/// How the RSA public key is written when it serves as an HMAC secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKeyBytes {
    /// The PEM text exactly as
    /// [`OidcProvider::rsa_public_key_pem`](crate::OidcProvider::rsa_public_key_pem)
    /// returns it.
    Pem,
    /// The X.509 `SubjectPublicKeyInfo` DER bytes.
    Der,
}

/// How [`OidcProvider::mint_with`](crate::OidcProvider::mint_with) signs a token.
///
/// The header starts as `{"alg", "typ": "JWT", "kid"}` for the chosen key; then every member of
/// `header` replaces or adds a member, and a `null` value removes it. The signature is computed
/// with the chosen key whatever the header ends up saying, so `alg` and `kid` can lie.
#[derive(Debug, Clone, Default)]
pub struct TokenOptions {
    /// The key that signs.
    pub key: TokenKey,
    /// Header members to set (or, when `null`, to remove) after the defaults.
    pub header: Map<String, Value>,
}

impl TokenOptions {
    /// Options signing with `key` and the default header.
    pub fn new(key: TokenKey) -> Self {
        Self {
            key,
            header: Map::new(),
        }
    }

    /// Sets the header member `name` to `value`; `Value::Null` removes it.
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }
}

/// The keys a token can be signed with, borrowed from the provider for one signing.
pub(crate) struct Signers<'a> {
    pub(crate) rsa: &'a RsaKey,
    pub(crate) ec: &'a EcKey,
    pub(crate) unpublished: &'a RsaKey,
}

/// Builds and signs a compact JWS over `claims` as `options` ask.
pub(crate) fn sign(signers: &Signers<'_>, options: &TokenOptions, claims: &Value) -> String {
    let mut header = default_header(signers, options.key);
    for (name, value) in &options.header {
        if value.is_null() {
            header.remove(name);
        } else {
            header.insert(name.clone(), value.clone());
        }
    }

    let signing_input = format!(
        "{}.{}",
        b64url(Value::Object(header).to_string()),
        b64url(claims.to_string())
    );
    let signature = match options.key {
        TokenKey::Rsa => signers.rsa.sign(signing_input.as_bytes()),
        TokenKey::Ec => signers.ec.sign(signing_input.as_bytes()),
        TokenKey::AlgNone => Vec::new(),
        TokenKey::HmacWithRsaPublicKey(PublicKeyBytes::Pem) => hs256(
            signers.rsa.public_pem().as_bytes(),
            signing_input.as_bytes(),
        ),
        TokenKey::HmacWithRsaPublicKey(PublicKeyBytes::Der) => {
            hs256(&signers.rsa.public_der(), signing_input.as_bytes())
        }
        TokenKey::Unpublished => signers.unpublished.sign(signing_input.as_bytes()),
    };
    format!("{signing_input}.{}", b64url(signature))
}

fn default_header(signers: &Signers<'_>, key: TokenKey) -> Map<String, Value> {
    let header = match key {
        TokenKey::Rsa => json!({"alg": "RS256", "typ": "JWT", "kid": signers.rsa.kid()}),
        TokenKey::Ec => json!({"alg": "ES256", "typ": "JWT", "kid": signers.ec.kid()}),
        TokenKey::AlgNone => json!({"alg": "none", "typ": "JWT"}),
        TokenKey::HmacWithRsaPublicKey(_) => {
            json!({"alg": "HS256", "typ": "JWT", "kid": signers.rsa.kid()})
        }
        TokenKey::Unpublished => {
            json!({"alg": "RS256", "typ": "JWT", "kid": signers.unpublished.kid()})
        }
    };
    match header {
        Value::Object(members) => members,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn decoded_header(token: &str) -> Value {
        let first = token.split('.').next().unwrap_or_default();
        let bytes = URL_SAFE_NO_PAD.decode(first).expect("base64url header");
        serde_json::from_slice(&bytes).expect("json header")
    }

    #[test]
    fn header_overrides_replace_add_and_remove_members() {
        let rsa = RsaKey::generate("rsa".into());
        let ec = EcKey::generate("ec".into());
        let signers = Signers {
            rsa: &rsa,
            ec: &ec,
            unpublished: &rsa,
        };
        let options = TokenOptions::new(TokenKey::Ec)
            .header("alg", "RS256")
            .header("jku", "https://attacker.example/jwks")
            .header("typ", Value::Null);

        let token = sign(&signers, &options, &json!({"sub": "x"}));

        let header = decoded_header(&token);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "ec");
        assert_eq!(header["jku"], "https://attacker.example/jwks");
        assert!(header.get("typ").is_none());
    }

    #[test]
    fn alg_none_has_an_empty_signature() {
        let rsa = RsaKey::generate("rsa".into());
        let ec = EcKey::generate("ec".into());
        let signers = Signers {
            rsa: &rsa,
            ec: &ec,
            unpublished: &rsa,
        };

        let token = sign(&signers, &TokenOptions::new(TokenKey::AlgNone), &json!({}));

        assert!(token.ends_with('.'));
        assert_eq!(decoded_header(&token)["alg"], "none");
    }
}
