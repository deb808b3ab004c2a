//! The fake Entra token endpoint, exercised over HTTP as a federated client would call it.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use credless_testkit::entra::{
    EntraFailure, EntraSetupError, FakeEntra, MAX_FEDERATED_CREDENTIALS,
};
use credless_testkit::{OidcProvider, TokenKey, TokenOptions};
use serde_json::{Value, json};

const DIRECTORY: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const AUDIENCE: &str = "credless-client";
const SCOPE: &str = "https://management.azure.com/.default";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Setup {
    entra: FakeEntra,
    idp: OidcProvider,
    object_id: String,
}

/// A directory with one app trusting `alice` of a fresh identity provider.
async fn setup() -> Setup {
    let (entra, idp) = tokio::join!(FakeEntra::start(), OidcProvider::start());
    let object_id = entra.add_app(DIRECTORY, CLIENT_ID);
    entra
        .add_federated_credential(DIRECTORY, CLIENT_ID, &idp.issuer(), "alice", AUDIENCE)
        .unwrap();
    Setup {
        entra,
        idp,
        object_id,
    }
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .unwrap()
}

/// Posts the five form fields of a federated client credentials request, with `changes`
/// replacing (or, when empty, removing) fields.
async fn token_request(
    entra: &FakeEntra,
    directory: &str,
    assertion: &str,
    changes: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("client_id", CLIENT_ID),
        ("scope", SCOPE),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
        ("grant_type", "client_credentials"),
    ];
    for (name, value) in changes {
        form.retain(|(field, _)| field != name);
        if !value.is_empty() {
            form.push((name, value));
        }
    }
    client(Duration::from_secs(10))
        .post(entra.token_endpoint(directory))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The status and the error code of a refusal, after checking the documented error shape.
async fn refusal(response: reqwest::Response) -> (u16, String, u64) {
    let status = response.status().as_u16();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    let code = body["error_codes"][0].as_u64().unwrap();
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(description.contains(&format!("Trace ID: {}", body["trace_id"].as_str().unwrap())));
    for member in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[member].is_string(), "{member}: {body}");
    }
    (status, body["error"].as_str().unwrap().to_owned(), code)
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_matching_federated_credential_gets_an_access_token() {
    let Setup {
        entra,
        idp,
        object_id,
    } = setup().await;
    let assertion = idp.id_token("alice", "alice@example.com", AUDIENCE, &[]);

    let response = token_request(&entra, DIRECTORY, &assertion, &[]).await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["appid"], CLIENT_ID);
    assert_eq!(claims["oid"], object_id.as_str());
    assert_eq!(claims["tid"], DIRECTORY);
    assert_eq!(claims["aud"], "https://management.azure.com");
    let exchanges = entra.exchanges();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].subject, "alice");
    assert_eq!(exchanges[0].issuer, idp.issuer());
}

#[tokio::test]
async fn another_users_token_is_refused_for_its_subject() {
    let Setup { entra, idp, .. } = setup().await;
    let bob = idp.id_token("bob", "bob@example.com", AUDIENCE, &[]);

    let answer = refusal(token_request(&entra, DIRECTORY, &bob, &[]).await).await;

    assert_eq!(answer, (400, "invalid_client".to_owned(), 700213));
    assert!(entra.exchanges().is_empty());
}

#[tokio::test]
async fn issuer_audience_and_missing_credentials_are_refused_by_their_own_codes() {
    let Setup { entra, idp, .. } = setup().await;
    let other_idp = OidcProvider::start().await;
    let other_audience = idp.id_token("alice", "a@example.com", "someone-else", &[]);
    let other_issuer = other_idp.id_token("alice", "a@example.com", AUDIENCE, &[]);
    entra.add_app(DIRECTORY, "no-credentials");
    let alice = idp.id_token("alice", "a@example.com", AUDIENCE, &[]);

    let audience = refusal(token_request(&entra, DIRECTORY, &other_audience, &[]).await).await;
    let issuer = refusal(token_request(&entra, DIRECTORY, &other_issuer, &[]).await).await;
    let none = token_request(
        &entra,
        DIRECTORY,
        &alice,
        &[("client_id", "no-credentials")],
    );
    let none = refusal(none.await).await;

    assert_eq!(audience.2, 700212);
    assert_eq!(issuer.2, 700211);
    assert_eq!(none, (400, "invalid_client".to_owned(), 70021));
}

#[tokio::test]
async fn unknown_directories_and_apps_are_refused() {
    let Setup { entra, idp, .. } = setup().await;
    let alice = idp.id_token("alice", "a@example.com", AUDIENCE, &[]);
    let unknown = "99999999-2222-3333-4444-555555555555";

    let directory = refusal(token_request(&entra, unknown, &alice, &[]).await).await;
    let invalid = refusal(token_request(&entra, "not_a_tenant", &alice, &[]).await).await;
    let app = token_request(&entra, DIRECTORY, &alice, &[("client_id", "unknown-app")]);
    let app = refusal(app.await).await;

    assert_eq!(directory, (400, "invalid_request".to_owned(), 90002));
    assert_eq!(invalid, (400, "invalid_request".to_owned(), 900023));
    assert_eq!(app, (400, "unauthorized_client".to_owned(), 700016));
}

#[tokio::test]
async fn expired_forged_and_malformed_assertions_are_rejected() {
    let Setup { entra, idp, .. } = setup().await;
    let mut claims = idp.claims_for(&credless_testkit::User::new("alice", ""), AUDIENCE);
    claims["exp"] = json!(1_000);
    claims["nbf"] = json!(0);
    let expired = idp.mint(claims.clone());
    claims["exp"] = json!(4_000_000_000_u64);
    let unpublished = idp.mint_with(TokenOptions::new(TokenKey::Unpublished), claims.clone());
    let unsigned = idp.mint_with(TokenOptions::new(TokenKey::AlgNone), claims);

    let cases = [
        (expired.as_str(), 700024),
        (unpublished.as_str(), 50013),
        (unsigned.as_str(), 50013),
        ("not-a-jwt", 50027),
    ];
    for (assertion, code) in cases {
        let answer = refusal(token_request(&entra, DIRECTORY, assertion, &[]).await).await;
        assert_eq!(answer.2, code);
    }
    assert!(entra.exchanges().is_empty());
}

#[tokio::test]
async fn es256_and_rotated_keys_are_fetched_from_the_issuer() {
    let Setup { entra, idp, .. } = setup().await;
    let claims = idp.claims_for(&credless_testkit::User::new("alice", ""), AUDIENCE);
    let ec = idp.mint_with(TokenOptions::new(TokenKey::Ec), claims.clone());

    let first = token_request(&entra, DIRECTORY, &ec, &[])
        .await
        .status()
        .as_u16();
    idp.rotate().await;
    let rotated = token_request(&entra, DIRECTORY, &idp.mint(claims), &[]).await;
    let rotated = rotated.status().as_u16();

    assert_eq!((first, rotated), (200, 200));
    assert!(idp.jwks_requests() >= 2);
}

/// Form fields to replace, and the status, OAuth error and code Entra answers.
type Changes<'a> = &'a [(&'a str, &'a str)];
type Expected = (u16, &'static str, u64);

#[tokio::test]
async fn the_request_must_be_a_federated_client_credentials_grant() {
    let Setup { entra, idp, .. } = setup().await;
    let alice = idp.id_token("alice", "a@example.com", AUDIENCE, &[]);

    let cases: [(Changes<'_>, Expected); 5] = [
        (
            &[("scope", "https://management.azure.com/user_impersonation")],
            (400, "invalid_scope", 1002012),
        ),
        (
            &[("grant_type", "authorization_code")],
            (400, "unsupported_grant_type", 70003),
        ),
        (
            &[("client_assertion_type", "urn:other")],
            (401, "invalid_client", 7000218),
        ),
        (&[("grant_type", "")], (400, "invalid_request", 900144)),
        (
            &[("client_assertion", "")],
            (400, "invalid_request", 900144),
        ),
    ];
    for (changes, (status, error, code)) in cases {
        let answer = refusal(token_request(&entra, DIRECTORY, &alice, changes).await).await;
        assert_eq!(answer, (status, error.to_owned(), code), "{changes:?}");
    }
}

#[tokio::test]
async fn an_app_holds_at_most_twenty_federated_credentials() {
    let entra = FakeEntra::start().await;
    entra.add_app(DIRECTORY, CLIENT_ID);
    let add = |subject: &str| {
        entra.add_federated_credential(DIRECTORY, CLIENT_ID, "https://idp", subject, AUDIENCE)
    };

    for user in 0..MAX_FEDERATED_CREDENTIALS {
        add(&format!("user-{user}")).unwrap();
    }

    assert_eq!(add("one-too-many"), Err(EntraSetupError::LimitReached));
    assert!(entra.remove_federated_credential(DIRECTORY, CLIENT_ID, "https://idp", "user-0"));
    assert_eq!(add("user-1"), Err(EntraSetupError::Duplicate));
    assert_eq!(add("one-too-many"), Ok(()));
    let unknown = entra.add_federated_credential(DIRECTORY, "nope", "https://idp", "x", "y");
    assert_eq!(unknown, Err(EntraSetupError::UnknownApp));
}

#[tokio::test]
async fn injected_failures_answer_as_entra_does_then_stop() {
    let Setup { entra, idp, .. } = setup().await;
    let alice = idp.id_token("alice", "a@example.com", AUDIENCE, &[]);
    let retry_after = Duration::from_secs(7);
    entra.fail_next(1, EntraFailure::Throttle { retry_after });
    entra.fail_next(1, EntraFailure::ServerError);
    entra.fail_next(1, EntraFailure::Malformed);
    entra.fail_next(1, EntraFailure::Hang);

    let throttled = token_request(&entra, DIRECTORY, &alice, &[]).await;
    assert_eq!(throttled.headers()["retry-after"], "7");
    assert_eq!(refusal(throttled).await.2, 90055);
    let failed = refusal(token_request(&entra, DIRECTORY, &alice, &[]).await).await;
    assert_eq!((failed.0, failed.2), (500, 50000));
    let malformed = token_request(&entra, DIRECTORY, &alice, &[]).await;
    assert_eq!(malformed.headers()["content-type"], "text/html");
    let hung = client(Duration::from_millis(300))
        .post(entra.token_endpoint(DIRECTORY))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());

    let recovered = token_request(&entra, DIRECTORY, &alice, &[]).await;
    assert_eq!(recovered.status(), 200);
    assert_eq!(entra.requests().len(), 5);
}

#[tokio::test]
async fn requests_are_recorded_with_their_form_and_debug_hides_the_assertion() {
    let Setup { entra, idp, .. } = setup().await;
    let alice = idp.id_token("alice", "a@example.com", AUDIENCE, &[]);

    token_request(&entra, DIRECTORY, &alice, &[]).await;

    let requests = entra.requests();
    assert_eq!(
        requests[0].field_names(),
        [
            "client_id",
            "scope",
            "client_assertion_type",
            "client_assertion",
            "grant_type"
        ]
    );
    assert_eq!(requests[0].field("client_assertion"), Some(alice.as_str()));
    assert_eq!(
        requests[0].request.path,
        format!("/{DIRECTORY}/oauth2/v2.0/token")
    );
    let printed = format!("{:?}", requests[0]);
    assert!(!printed.contains(&alice), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");
}

#[tokio::test]
async fn a_clock_ahead_expires_fresh_tokens_and_persistent_failures_last_until_cleared() {
    let Setup { entra, idp, .. } = setup().await;
    let alice = idp.id_token("alice", "a@example.com", AUDIENCE, &[]);

    entra.set_clock_ahead(Duration::from_secs(7200));
    let expired = refusal(token_request(&entra, DIRECTORY, &alice, &[]).await).await;
    entra.set_clock_ahead(Duration::ZERO);
    entra.fail_all(EntraFailure::ServerError);
    let first = token_request(&entra, DIRECTORY, &alice, &[]).await.status();
    let second = token_request(&entra, DIRECTORY, &alice, &[]).await.status();
    entra.clear_failures();
    let cleared = token_request(&entra, DIRECTORY, &alice, &[]).await.status();

    assert_eq!(expired.2, 700024);
    assert_eq!(
        [first, second, cleared].map(|s| s.as_u16()),
        [500, 500, 200]
    );
}
