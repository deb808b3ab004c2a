//! The fake OIDC provider: discovery, JWKS, minting, forging, rotation, authorize and token.

use std::time::Duration;

use credless_testkit::{
    OidcProvider, PublicKeyBytes, TokenKey, TokenOptions, UNPUBLISHED_KID, User,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Value, json};
use url::Url;

use crate::{client, fetch_jwks, location, verify};

const AUDIENCE: &str = "credless-client";

#[tokio::test]
async fn discovery_names_the_issuer_and_its_endpoints() {
    let provider = OidcProvider::start().await;

    let url = format!("{}/.well-known/openid-configuration", provider.issuer());
    let discovery: Value = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert!(!provider.issuer().ends_with('/'));
    assert_eq!(discovery["issuer"], provider.issuer());
    assert_eq!(discovery["jwks_uri"], provider.jwks_uri());
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{}/authorize", provider.issuer())
    );
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/token", provider.issuer())
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );
    assert_eq!(provider.discovery_requests(), 1);
    assert_eq!(provider.jwks_requests(), 0);
}

#[tokio::test]
async fn jwks_publishes_an_rsa_and_an_ec_signing_key() {
    let provider = OidcProvider::start().await;

    let jwks: Value = client()
        .get(provider.jwks_uri())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let rsa = keys.iter().find(|key| key["kty"] == "RSA").unwrap();
    assert_eq!(rsa["kid"], provider.current_kid());
    assert_eq!((&rsa["use"], &rsa["alg"]), (&json!("sig"), &json!("RS256")));
    assert_eq!(rsa["e"], "AQAB");
    // 256 bytes of modulus are 342 base64url characters.
    assert_eq!(rsa["n"].as_str().unwrap().len(), 342);
    let ec = keys.iter().find(|key| key["kty"] == "EC").unwrap();
    assert_eq!(ec["kid"], provider.ec_kid());
    assert_eq!(
        (&ec["use"], &ec["alg"], &ec["crv"]),
        (&json!("sig"), &json!("ES256"), &json!("P-256"))
    );
    assert_eq!(ec["x"].as_str().unwrap().len(), 43);
    assert_eq!(ec["y"].as_str().unwrap().len(), 43);
    assert_eq!(provider.jwks_requests(), 1);
    assert_eq!(jwks, provider.jwks());
}

#[tokio::test]
async fn minted_rs256_and_es256_tokens_verify_against_the_published_keys() {
    let provider = OidcProvider::start().await;
    let jwks = fetch_jwks(&provider.jwks_uri()).await;

    let rsa = provider.id_token(
        "alice",
        "alice@acme.example",
        AUDIENCE,
        &["platform", "web"],
    );
    let claims = verify(&jwks, &rsa, &provider.issuer(), AUDIENCE).unwrap();
    assert_eq!(claims["iss"], provider.issuer());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["email"], "alice@acme.example");
    assert_eq!(claims["groups"], json!(["platform", "web"]));
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["nbf"].as_u64(), Some(iat));
    assert_eq!(claims["exp"].as_u64(), Some(iat + 3600));

    let user = User::new("bob", "bob@acme.example");
    let ec = provider.mint_with(
        TokenOptions::new(TokenKey::Ec),
        provider.claims_for(&user, AUDIENCE),
    );
    let claims = verify(&jwks, &ec, &provider.issuer(), AUDIENCE).unwrap();
    assert_eq!(claims["preferred_username"], "bob");

    assert!(verify(&jwks, &rsa, &provider.issuer(), "someone-else").is_err());
    assert!(verify(&jwks, &rsa, "https://other.example", AUDIENCE).is_err());
}

#[tokio::test]
async fn expired_tokens_can_be_minted_and_are_refused() {
    let provider = OidcProvider::start().await;
    let jwks = fetch_jwks(&provider.jwks_uri()).await;
    let mut claims = provider.claims_for(&User::demo(), AUDIENCE);
    claims["exp"] = json!(claims["iat"].as_u64().unwrap() - 60);

    let token = provider.mint(claims);

    let error = verify(&jwks, &token, &provider.issuer(), AUDIENCE).unwrap_err();
    assert!(error.contains("ExpiredSignature"), "{error}");
}

#[tokio::test]
async fn forged_tokens_do_not_verify() {
    let provider = OidcProvider::start().await;
    let jwks = fetch_jwks(&provider.jwks_uri()).await;
    let claims = provider.claims_for(&User::demo(), AUDIENCE);
    let forge = |options: TokenOptions| provider.mint_with(options, claims.clone());

    let forgeries = [
        (
            "alg none",
            forge(TokenOptions::new(TokenKey::AlgNone).header("kid", provider.current_kid())),
        ),
        (
            "hmac pem",
            forge(TokenOptions::new(TokenKey::HmacWithRsaPublicKey(
                PublicKeyBytes::Pem,
            ))),
        ),
        (
            "hmac der",
            forge(TokenOptions::new(TokenKey::HmacWithRsaPublicKey(
                PublicKeyBytes::Der,
            ))),
        ),
        (
            "unknown kid",
            forge(TokenOptions::new(TokenKey::Unpublished)),
        ),
        (
            "wrong key, known kid",
            forge(TokenOptions::new(TokenKey::Unpublished).header("kid", provider.current_kid())),
        ),
        (
            "alg lies",
            forge(
                TokenOptions::new(TokenKey::Ec)
                    .header("alg", "RS256")
                    .header("kid", provider.current_kid()),
            ),
        ),
        (
            "embedded jwk",
            forge(
                TokenOptions::new(TokenKey::Unpublished)
                    .header("kid", Value::Null)
                    .header("jwk", json!({"kty": "RSA", "kid": UNPUBLISHED_KID})),
            ),
        ),
    ];

    for (name, token) in forgeries {
        assert!(
            verify(&jwks, &token, &provider.issuer(), AUDIENCE).is_err(),
            "{name} verified"
        );
    }
}

#[tokio::test]
async fn hmac_confusion_tokens_fool_a_verifier_that_trusts_the_header() {
    let provider = OidcProvider::start().await;
    let claims = provider.claims_for(&User::demo(), AUDIENCE);
    let token = provider.mint_with(
        TokenOptions::new(TokenKey::HmacWithRsaPublicKey(PublicKeyBytes::Pem)),
        claims,
    );

    // A naive verifier keyed with the public key's PEM accepts the forgery: it is a real attack.
    let naive_key = DecodingKey::from_secret(provider.rsa_public_key_pem().as_bytes());
    let mut naive = Validation::new(Algorithm::HS256);
    naive.set_audience(&[AUDIENCE]);
    assert!(decode::<Value>(&token, &naive_key, &naive).is_ok());
    assert!(
        provider
            .rsa_public_key_pem()
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    assert!(!provider.rsa_public_key_der().is_empty());
}

#[tokio::test]
async fn rotation_replaces_the_published_rsa_key() {
    let provider = OidcProvider::start().await;
    let old_token = provider.id_token("alice", "alice@acme.example", AUDIENCE, &[]);
    let old_kid = provider.current_kid();

    provider.rotate().await;

    let jwks = fetch_jwks(&provider.jwks_uri()).await;
    assert_ne!(provider.current_kid(), old_kid);
    assert!(jwks.find(&old_kid).is_none());
    assert!(jwks.find(&provider.current_kid()).is_some());
    assert!(jwks.find(&provider.ec_kid()).is_some());
    assert!(verify(&jwks, &old_token, &provider.issuer(), AUDIENCE).is_err());
    let new_token = provider.id_token("alice", "alice@acme.example", AUDIENCE, &[]);
    assert!(verify(&jwks, &new_token, &provider.issuer(), AUDIENCE).is_ok());

    let kept_kid = provider.current_kid();
    provider.rotate_keep_old().await;
    let jwks = fetch_jwks(&provider.jwks_uri()).await;
    assert_eq!(jwks.keys.len(), 3);
    assert!(verify(&jwks, &new_token, &provider.issuer(), AUDIENCE).is_ok());
    assert!(jwks.find(&kept_kid).is_some());
}

#[tokio::test]
async fn jwks_can_fail_and_be_slow() {
    let provider = OidcProvider::start().await;

    provider.set_jwks_failing(true);
    let response = client().get(provider.jwks_uri()).send().await.unwrap();
    assert_eq!(response.status(), 503);
    provider.set_jwks_failing(false);
    let response = client().get(provider.jwks_uri()).send().await.unwrap();
    assert_eq!(response.status(), 200);

    provider.set_jwks_delay(Duration::from_secs(5));
    let slow = client()
        .get(provider.jwks_uri())
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());
    assert_eq!(provider.jwks_requests(), 3);
}

#[tokio::test]
async fn authorize_approves_the_next_user_and_the_code_redeems_once() {
    let provider = OidcProvider::start().await;
    let carol = User::new("carol", "carol@acme.example").with_groups(["ops"]);
    provider.set_next_user(carol.clone());

    let mut authorize = Url::parse(&format!("{}/authorize", provider.issuer())).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", "app")
        .append_pair("redirect_uri", "https://app.example/cb?x=1")
        .append_pair("response_type", "code")
        .append_pair("state", "s t");
    let response = client().get(authorize.as_str()).send().await.unwrap();

    assert_eq!(response.status(), 302);
    let back = Url::parse(&location(&response)).unwrap();
    assert_eq!(back.host_str(), Some("app.example"));
    let query: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert_eq!(query[0], ("x".into(), "1".into()));
    assert_eq!(query[2], ("state".into(), "s t".into()));
    let code = query[1].1.clone();

    let token_url = format!("{}/token", provider.issuer());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ];
    let tokens: Value = client()
        .post(&token_url)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks = fetch_jwks(&provider.jwks_uri()).await;
    let claims = verify(
        &jwks,
        tokens["id_token"].as_str().unwrap(),
        &provider.issuer(),
        "app",
    )
    .unwrap();
    assert_eq!(claims["sub"], "carol");
    assert_eq!(claims["groups"], json!(["ops"]));

    let again = client().post(&token_url).form(&form).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(provider.redeem_code(&code).is_none());
}

#[tokio::test]
async fn authorize_refuses_a_request_without_redirect_uri() {
    let provider = OidcProvider::start().await;
    let url = format!(
        "{}/authorize?client_id=app&response_type=code",
        provider.issuer()
    );

    let response = client().get(url).send().await.unwrap();

    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn debug_output_carries_no_token() {
    let provider = OidcProvider::start().await;
    let user = User::demo();
    let redeemed = credless_testkit::Redeemed {
        id_token: provider.id_token_for(&user, AUDIENCE),
        user,
    };

    let printed = format!("{redeemed:?} {provider:?}");

    assert!(!printed.contains(&redeemed.id_token));
    assert!(printed.contains("<redacted>"));
}
