//! Signing keys of the fake identity provider: generation, public JWK export and JWS signing.
//!
//! Keys live only in memory and are regenerated on every start; nothing here is meant to
//! protect anything.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use aws_lc_rs::{hmac, rsa};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// Encodes bytes as base64url without padding, the alphabet of JWS and JWK.
pub(crate) fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Returns `len` bytes from the system's secure random source.
pub(crate) fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source does not fail");
    bytes
}

/// Returns a random, URL-safe string carrying `len` random bytes.
pub(crate) fn random_token(len: usize) -> String {
    b64url(random_bytes(len))
}

/// A 2048-bit RSA key that signs RS256.
pub(crate) struct RsaKey {
    kid: String,
    pair: rsa::KeyPair,
}

impl RsaKey {
    /// Generates a fresh key named `kid`.
    pub(crate) fn generate(kid: String) -> Self {
        let pair =
            rsa::KeyPair::generate(KeySize::Rsa2048).expect("aws-lc generates 2048-bit RSA keys");
        Self { kid, pair }
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK with `kid`, `use` and `alg`.
    pub(crate) fn jwk(&self) -> Value {
        let components = PublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": b64url(&components.n),
            "e": b64url(&components.e),
        })
    }

    /// The public key as an X.509 `SubjectPublicKeyInfo` DER document.
    pub(crate) fn public_der(&self) -> Vec<u8> {
        self.pair
            .public_key()
            .as_der()
            .expect("a generated RSA public key encodes as DER")
            .as_ref()
            .to_vec()
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`, 64-column lines, final newline).
    pub(crate) fn public_pem(&self) -> String {
        let body = STANDARD.encode(self.public_der());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 and SHA-256.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("signing with a generated RSA key does not fail");
        signature
    }
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A P-256 key that signs ES256 with fixed-length `r || s` signatures, as JWS requires.
pub(crate) struct EcKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl EcKey {
    /// Generates a fresh key named `kid`.
    pub(crate) fn generate(kid: String) -> Self {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("aws-lc generates P-256 keys");
        Self { kid, pair }
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK with `kid`, `use` and `alg`.
    pub(crate) fn jwk(&self) -> Value {
        // An uncompressed point: 0x04, then 32 bytes of x, then 32 bytes of y.
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC",
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
            "crv": "P-256",
            "x": b64url(&point[1..33]),
            "y": b64url(&point[33..65]),
        })
    }

    /// Signs `message` with ECDSA P-256 and SHA-256.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .expect("signing with a generated P-256 key does not fail")
            .as_ref()
            .to_vec()
    }
}

impl fmt::Debug for EcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Computes HMAC-SHA256 of `message` under `secret`.
pub(crate) fn hs256(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::sign(&key, message).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_signature_verifies_with_the_published_components() {
        let key = RsaKey::generate("k".into());
        let signature = key.sign(b"message");
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            key.pair.public_key().as_ref(),
        );
        assert!(public.verify(b"message", &signature).is_ok());
        assert!(public.verify(b"other", &signature).is_err());
    }

    #[test]
    fn ec_signature_is_fixed_length() {
        let key = EcKey::generate("k".into());
        assert_eq!(key.sign(b"message").len(), 64);
        assert_eq!(key.jwk()["crv"], "P-256");
    }

    #[test]
    fn pem_wraps_the_der_document() {
        let key = RsaKey::generate("k".into());
        let pem = key.public_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
        assert!(pem.lines().all(|line| line.len() <= 64));
    }

    #[test]
    fn debug_names_the_key_without_material() {
        let key = RsaKey::generate("kid-1".into());
        assert_eq!(format!("{key:?}"), "RsaKey { kid: \"kid-1\", .. }");
    }
}
