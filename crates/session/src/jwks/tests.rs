#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use super::*;

// The public P-256 key of RFC 7517, appendix A.1.
const EC_X: &str = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
const EC_Y: &str = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";

fn ec_key(extra: serde_json::Value) -> serde_json::Value {
    let mut key = serde_json::json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y});
    key.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    key
}

fn parse(keys: Vec<serde_json::Value>) -> Vec<Arc<VerifyKey>> {
    parse_key_set(serde_json::json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

#[test]
fn symmetric_encryption_and_unknown_keys_are_dropped() {
    let keys = parse(vec![
        serde_json::json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        ec_key(serde_json::json!({"kid": "enc", "use": "enc"})),
        ec_key(serde_json::json!({"kid": "hs", "alg": "HS256"})),
        ec_key(serde_json::json!({"kid": "oaep", "alg": "RSA-OAEP"})),
        serde_json::json!({"kty": "XYZ", "kid": "strange"}),
        ec_key(serde_json::json!({"kid": "good", "use": "sig", "alg": "ES256"})),
    ]);

    let kids: Vec<_> = keys.iter().map(|key| key.kid.as_deref()).collect();
    assert_eq!(kids, [Some("good")]);
}

#[test]
fn the_algorithm_must_fit_the_key_type_and_its_alg() {
    let keys = parse(vec![ec_key(serde_json::json!({"kid": "a"}))]);
    let ec = &keys[0];
    assert!(ec.allows(Algorithm::ES256));
    for alg in [
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::HS256,
        Algorithm::EdDSA,
    ] {
        assert!(!ec.allows(alg), "{alg:?}");
    }

    let rsa = VerifyKey {
        kind: KeyKind::Rsa,
        alg: Some(Algorithm::RS256),
        ..parse_one()
    };
    assert!(rsa.allows(Algorithm::RS256));
    assert!(
        !rsa.allows(Algorithm::PS256),
        "the JWK's own alg wins over the family"
    );
}

fn parse_one() -> VerifyKey {
    let value = ec_key(serde_json::json!({"kid": "a"}));
    verify_key(value).unwrap()
}

#[test]
fn a_token_without_kid_may_use_only_the_sole_key() {
    let one = KeySet {
        keys: parse(vec![ec_key(serde_json::json!({}))]),
        fetched_at: now(),
    };
    assert!(one.find(None).is_some());
    assert!(one.find(Some("other")).is_none());

    let two = KeySet {
        keys: parse(vec![
            ec_key(serde_json::json!({"kid": "a"})),
            ec_key(serde_json::json!({"kid": "b"})),
        ]),
        fetched_at: now(),
    };
    assert!(two.find(None).is_none());
    assert!(two.find(Some("b")).is_some());
}

fn now() -> Instant {
    Instant::now()
}

#[test]
fn a_document_that_is_not_a_key_set_is_an_idp_failure() {
    let error = parse_key_set(b"<html>").err().unwrap();
    assert_eq!(error.code(), "unavailable");
}
