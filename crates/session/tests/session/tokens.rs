//! ID tokens the proxy passes: valid ones pass, forged or unfit ones are refused.

use std::time::{SystemTime, UNIX_EPOCH};

use credless_session::{SessionError, Validated};
use credless_testkit::{OidcProvider, PublicKeyBytes, TokenKey, TokenOptions, User};
use serde_json::{Value, json};

use crate::support::{AUDIENCE, World, token_reason};

/// Validates a fresh session whose proxy passes `token` as the ID token.
async fn with_token(world: &World, token: String) -> Result<Validated, SessionError> {
    world.proxy.set_id_token_override(Some(token));
    let headers = world.signed_in(User::demo());
    world.validate(&headers).await
}

fn claims(world: &World, changes: Value) -> Value {
    let mut claims = world.idp.claims_for(&User::demo(), AUDIENCE);
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn forged_signatures_are_refused() {
    let world = World::start().await;
    let good = claims(&world, json!({}));
    let mismatch = "signing algorithm does not match the key";
    let forgeries = [
        (
            TokenOptions::new(TokenKey::AlgNone),
            "malformed header or unsupported algorithm",
        ),
        (
            TokenOptions::new(TokenKey::HmacWithRsaPublicKey(PublicKeyBytes::Pem)),
            "signing algorithm not allowed",
        ),
        (
            TokenOptions::new(TokenKey::HmacWithRsaPublicKey(PublicKeyBytes::Der)),
            "signing algorithm not allowed",
        ),
        // The RSA key signing, but the header claiming the EC key's kid.
        (
            TokenOptions::new(TokenKey::Rsa).header("kid", world.idp.ec_kid()),
            mismatch,
        ),
        // The EC key signing, but the header claiming another curve's algorithm.
        (
            TokenOptions::new(TokenKey::Ec).header("alg", "ES384"),
            mismatch,
        ),
        // The EC key signing, but the header claiming an RSA algorithm.
        (
            TokenOptions::new(TokenKey::Ec).header("alg", "RS256"),
            mismatch,
        ),
    ];

    for (options, expected) in forgeries {
        let token = world.idp.mint_with(options.clone(), good.clone());
        let reason = token_reason(with_token(&world, token).await);
        assert_eq!(reason, expected, "{options:?}");
    }
}

#[tokio::test]
async fn rsa_and_ec_tokens_without_nbf_are_accepted() {
    let world = World::start().await;
    let without_nbf = claims(&world, json!({"nbf": null}));

    let rsa = with_token(&world, world.idp.mint(without_nbf.clone()))
        .await
        .unwrap();
    let ec_token = world
        .idp
        .mint_with(TokenOptions::new(TokenKey::Ec), without_nbf);
    let ec = with_token(&world, ec_token).await.unwrap();

    assert_eq!(rsa.identity.subject, User::demo().sub);
    assert_eq!(ec.identity.subject, User::demo().sub);
}

#[tokio::test]
async fn each_claim_rule_refuses_with_its_reason() {
    let world = World::start().await;
    let now = now();
    let cases = [
        (json!({"iss": "https://id.other.example"}), "wrong issuer"),
        (json!({"iss": null}), "missing iss claim"),
        (json!({"aud": "someone-else"}), "wrong audience"),
        (
            json!({"aud": ["someone-else", "another"]}),
            "wrong audience",
        ),
        (json!({"aud": []}), "wrong audience"),
        (json!({"aud": 123}), "claims malformed or of a wrong type"),
        (json!({"aud": null}), "missing or malformed aud claim"),
        (json!({"sub": null}), "missing sub claim"),
        (json!({"sub": ""}), "missing sub claim"),
        (json!({"exp": null}), "missing exp claim"),
        (
            json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}),
            "token expired",
        ),
        (json!({"nbf": now + 3600}), "token not yet valid"),
    ];

    for (changes, expected) in cases {
        let token = world.idp.mint(claims(&world, changes.clone()));
        let reason = token_reason(with_token(&world, token).await);
        assert_eq!(reason, expected, "{changes}");
    }
}

#[tokio::test]
async fn an_audience_list_naming_the_tenant_is_accepted() {
    let world = World::start().await;
    let token = world
        .idp
        .mint(claims(&world, json!({"aud": ["other-app", AUDIENCE]})));

    with_token(&world, token).await.unwrap();
}

#[tokio::test]
async fn a_token_from_another_idp_is_refused() {
    let world = World::start().await;
    let stranger = OidcProvider::start().await;

    let own_issuer = stranger.id_token("demo-user", "demo@example.com", AUDIENCE, &[]);
    let claimed_issuer = stranger.mint(claims(&world, json!({})));

    // Keys are looked up at the tenant's issuer only, where the stranger's kid is unknown.
    let reason = token_reason(with_token(&world, own_issuer).await);
    assert_eq!(reason, "unknown signing key");
    let reason = token_reason(with_token(&world, claimed_issuer).await);
    assert_eq!(reason, "unknown signing key");
    assert_eq!(stranger.discovery_requests() + stranger.jwks_requests(), 0);
}

#[tokio::test]
async fn keys_named_in_token_headers_are_never_fetched_or_used() {
    let world = World::start().await;
    let stranger = OidcProvider::start().await;
    let good = claims(&world, json!({}));
    let stranger_key = stranger.jwks()["keys"][0].clone();
    let kid = world.idp.current_kid();

    let via_jku = stranger.mint_with(
        TokenOptions::default()
            .header("jku", stranger.jwks_uri())
            .header("kid", kid.clone()),
        good.clone(),
    );
    let via_jwk = stranger.mint_with(
        TokenOptions::default()
            .header("jwk", stranger_key)
            .header("kid", kid),
        good,
    );

    assert_eq!(
        token_reason(with_token(&world, via_jku).await),
        "bad signature"
    );
    assert_eq!(
        token_reason(with_token(&world, via_jwk).await),
        "bad signature"
    );
    assert_eq!(stranger.jwks_requests(), 0, "a jku was followed");
}

#[tokio::test]
async fn a_token_mismatching_the_discovery_issuer_is_unavailable_not_accepted() {
    let world = World::start().await;
    let mut tenant = (*world.tenant).clone();
    // The configured issuer differs from the one the provider's discovery document names.
    tenant.oidc.issuer = format!("{}/", world.idp.issuer());
    let token = world
        .idp
        .mint(claims(&world, json!({"iss": tenant.oidc.issuer})));
    world.proxy.set_id_token_override(Some(token));

    let outcome = world
        .validator
        .validate(&tenant, &world.signed_in(User::demo()))
        .await;

    let error = outcome.unwrap_err();
    assert!(
        matches!(error, SessionError::IdpUnavailable { .. }),
        "{error:?}"
    );
    assert_eq!(error.status(), 503);
}

#[tokio::test]
async fn identity_claims_come_from_the_token_before_the_proxy_headers() {
    let world = World::start().await;
    let token_groups = claims(&world, json!({"groups": ["from-token"]}));
    let no_groups = claims(&world, json!({"groups": null, "email": null}));
    let unverified = claims(&world, json!({"email_verified": false}));
    let mut proxy_user = User::demo().with_groups(["from-proxy"]);
    proxy_user.email = "proxy@acme.example".to_owned();

    let mut outcomes = Vec::new();
    for claims in [token_groups, no_groups, unverified] {
        world
            .proxy
            .set_id_token_override(Some(world.idp.mint(claims)));
        let headers = world.signed_in(proxy_user.clone());
        outcomes.push(world.validate(&headers).await.unwrap().identity);
    }

    assert_eq!(outcomes[0].groups, ["from-token"]);
    assert_eq!(
        outcomes[0].email.as_deref(),
        Some(User::demo().email.as_str())
    );
    assert_eq!(
        outcomes[1].groups,
        ["from-proxy"],
        "without a groups claim, the header counts"
    );
    assert_eq!(outcomes[1].email.as_deref(), Some("proxy@acme.example"));
    assert_eq!(
        outcomes[2].email, None,
        "an unverified email is used from nowhere"
    );
}
