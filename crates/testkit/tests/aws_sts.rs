//! The fake STS on the wire: STS's parameters, checks, XML documents and status codes.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::time::Duration;

use credless_testkit::aws_sts::{FakeFailure, FakeSts};
use credless_testkit::{OidcProvider, PublicKeyBytes, TokenKey, TokenOptions, User};
use serde_json::json;

const ROLE: &str = "arn:aws:iam::123456789012:role/ops/deployer";
const AUDIENCE: &str = "credless-client-id";

struct Setup {
    idp: OidcProvider,
    sts: FakeSts,
    http: reqwest::Client,
}

async fn setup() -> Setup {
    let (idp, sts) = tokio::join!(OidcProvider::start(), FakeSts::start());
    sts.register_provider(&idp);
    sts.trust_role(ROLE, &idp.issuer(), AUDIENCE, None);
    Setup {
        idp,
        sts,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    fn token(&self) -> String {
        self.idp
            .id_token("user-1", "jane@acme.example", AUDIENCE, &[])
    }

    /// Posts an `AssumeRoleWithWebIdentity` form with `params` besides Action and Version.
    async fn assume(&self, params: &[(&str, &str)]) -> (u16, String, String) {
        let mut form = vec![
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
        ];
        form.extend_from_slice(params);
        let response = self
            .http
            .post(self.sts.endpoint())
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        (status, content_type, response.text().await.unwrap())
    }

    async fn assume_with(&self, token: &str, session: &str) -> (u16, String) {
        let (status, _, body) = self
            .assume(&[
                ("RoleArn", ROLE),
                ("RoleSessionName", session),
                ("WebIdentityToken", token),
            ])
            .await;
        (status, body)
    }
}

fn code(body: &str) -> &str {
    let start = body.find("<Code>").map_or(0, |at| at + "<Code>".len());
    let end = body.find("</Code>").unwrap_or(start);
    &body[start..end]
}

#[tokio::test]
async fn a_trusted_token_gets_the_documented_success_document() {
    let setup = setup().await;
    let token = setup.token();

    let (status, content_type, body) = setup
        .assume(&[
            ("RoleArn", ROLE),
            ("RoleSessionName", "jane@acme.example"),
            ("WebIdentityToken", &token),
            ("DurationSeconds", "900"),
        ])
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "text/xml");
    for element in [
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">",
        "<AccessKeyId>ASIA",
        "<SecretAccessKey>",
        "<SessionToken>",
        "<SubjectFromWebIdentityToken>user-1</SubjectFromWebIdentityToken>",
        "<Arn>arn:aws:sts::123456789012:assumed-role/deployer/jane@acme.example</Arn>",
        "<AssumedRoleId>AROA",
        &format!("<Provider>{}</Provider>", setup.idp.issuer()),
        &format!("<Audience>{AUDIENCE}</Audience>"),
        "<RequestId>",
    ] {
        assert!(body.contains(element), "{element} missing from {body}");
    }
    let expiration = body
        .split("<Expiration>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    let expires = humantime::parse_rfc3339(expiration).unwrap();
    let lifetime = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(lifetime <= Duration::from_secs(900) && lifetime > Duration::from_secs(880));
    assert_eq!(setup.sts.exchanges(), 1);
}

#[tokio::test]
async fn missing_parameters_and_unknown_actions_are_sender_errors() {
    let setup = setup().await;
    let token = setup.token();

    let (status, content_type, body) = setup
        .assume(&[("RoleSessionName", "jane"), ("WebIdentityToken", &token)])
        .await;
    assert_eq!((status, code(&body)), (400, "MissingParameter"), "{body}");
    assert_eq!(content_type, "text/xml");
    assert!(
        body.contains("<Type>Sender</Type>") && body.contains("RoleArn"),
        "{body}"
    );
    assert!(
        body.starts_with("<ErrorResponse") && body.contains("<RequestId>"),
        "{body}"
    );

    let (status, _, body) = setup
        .assume(&[("RoleArn", ROLE), ("RoleSessionName", "jane")])
        .await;
    assert_eq!((status, code(&body)), (400, "MissingParameter"), "{body}");

    let response = setup
        .http
        .post(setup.sts.endpoint())
        .form(&[("Action", "AssumeRoleWithSAML"), ("Version", "2011-06-15")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(code(&response.text().await.unwrap()), "InvalidAction");
}

#[tokio::test]
async fn session_names_and_durations_are_validated_as_sts_does() {
    let setup = setup().await;
    let token = setup.token();
    let long = "a".repeat(65);

    for session in ["j", long.as_str(), "jane doe", "jane/ops", "josé"] {
        let (status, body) = setup.assume_with(&token, session).await;
        assert_eq!(
            (status, code(&body)),
            (400, "ValidationError"),
            "{session}: {body}"
        );
        assert!(body.contains("roleSessionName"), "{body}");
    }
    for duration in ["899", "43201"] {
        let (status, _, body) = setup
            .assume(&[
                ("RoleArn", ROLE),
                ("RoleSessionName", "jane"),
                ("WebIdentityToken", &token),
                ("DurationSeconds", duration),
            ])
            .await;
        assert_eq!(
            (status, code(&body)),
            (400, "ValidationError"),
            "{duration}: {body}"
        );
    }
    let (status, _, body) = setup
        .assume(&[
            ("RoleArn", ROLE),
            ("RoleSessionName", "jane"),
            ("WebIdentityToken", &token),
            ("DurationSeconds", "7200"),
        ])
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("MaxSessionDuration"), "{body}");
    assert_eq!(setup.assume_with(&token, &"a".repeat(64)).await.0, 200);
}

#[tokio::test]
async fn only_tokens_signed_by_the_issuers_published_keys_are_accepted() {
    let setup = setup().await;
    let claims = setup.idp.claims_for(&User::demo(), AUDIENCE);
    let forgeries = [
        TokenKey::AlgNone,
        TokenKey::Unpublished,
        TokenKey::HmacWithRsaPublicKey(PublicKeyBytes::Pem),
    ];

    for key in forgeries {
        let token = setup.idp.mint_with(TokenOptions::new(key), claims.clone());
        let (status, body) = setup.assume_with(&token, "demo").await;
        assert_eq!(
            (status, code(&body)),
            (400, "InvalidIdentityToken"),
            "{key:?}: {body}"
        );
    }
    let (status, body) = setup.assume_with("not-a-jwt", "demo").await;
    assert_eq!(
        (status, code(&body)),
        (400, "InvalidIdentityToken"),
        "{body}"
    );

    let es256 = setup
        .idp
        .mint_with(TokenOptions::new(TokenKey::Ec), claims.clone());
    assert_eq!(setup.assume_with(&es256, "demo").await.0, 200);
    setup.idp.rotate().await;
    let rotated = setup.idp.mint(claims);
    assert_eq!(
        setup.assume_with(&rotated, "demo").await.0,
        200,
        "new keys are fetched"
    );
}

#[tokio::test]
async fn expiry_issuer_audience_and_trust_conditions_are_checked() {
    let setup = setup().await;
    setup.sts.trust_role(
        "arn:aws:iam::123456789012:role/bob-only",
        &setup.idp.issuer(),
        AUDIENCE,
        Some("bob"),
    );
    let mut expired = setup.idp.claims_for(&User::demo(), AUDIENCE);
    expired["exp"] = json!(1_000_000_000);
    let stranger = OidcProvider::start().await;

    let (status, body) = setup.assume_with(&setup.idp.mint(expired), "demo").await;
    assert_eq!(
        (status, code(&body)),
        (400, "ExpiredTokenException"),
        "{body}"
    );

    let foreign = stranger.id_token("user-1", "", AUDIENCE, &[]);
    let (status, body) = setup.assume_with(&foreign, "demo").await;
    assert_eq!(
        (status, code(&body)),
        (400, "InvalidIdentityToken"),
        "{body}"
    );

    let other_audience = setup.idp.id_token("user-1", "", "another-app", &[]);
    let (status, body) = setup.assume_with(&other_audience, "demo").await;
    assert_eq!(
        (status, code(&body)),
        (400, "InvalidIdentityToken"),
        "{body}"
    );

    let (status, _, body) = setup
        .assume(&[
            ("RoleArn", "arn:aws:iam::123456789012:role/bob-only"),
            ("RoleSessionName", "jane"),
            ("WebIdentityToken", &setup.token()),
        ])
        .await;
    assert_eq!((status, code(&body)), (403, "AccessDenied"), "{body}");

    let (status, _, body) = setup
        .assume(&[
            ("RoleArn", "arn:aws:iam::123456789012:role/unknown"),
            ("RoleSessionName", "jane"),
            ("WebIdentityToken", &setup.token()),
        ])
        .await;
    assert_eq!((status, code(&body)), (403, "AccessDenied"), "{body}");
}

#[tokio::test]
async fn injected_failures_answer_as_sts_fails_then_stop() {
    let setup = setup().await;
    let token = setup.token();
    setup.sts.fail_next(1, FakeFailure::Throttle);
    setup.sts.fail_next(1, FakeFailure::ServerError(503));
    setup.sts.fail_next(
        1,
        FakeFailure::Error {
            code: "IDPCommunicationError".into(),
            status: 400,
            message: "the IdP did not answer".into(),
        },
    );
    setup.sts.fail_next(1, FakeFailure::Malformed);

    let (status, body) = setup.assume_with(&token, "jane").await;
    assert_eq!((status, code(&body)), (400, "Throttling"), "{body}");
    let (status, body) = setup.assume_with(&token, "jane").await;
    assert_eq!((status, code(&body)), (503, "ServiceUnavailable"), "{body}");
    assert!(body.contains("<Type>Receiver</Type>"));
    let (status, body) = setup.assume_with(&token, "jane").await;
    assert_eq!(
        (status, code(&body)),
        (400, "IDPCommunicationError"),
        "{body}"
    );
    let (status, body) = setup.assume_with(&token, "jane").await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("</AssumeRoleWithWebIdentityResponse>"),
        "{body}"
    );

    assert_eq!(setup.assume_with(&token, "jane").await.0, 200);
    assert_eq!(setup.sts.exchanges(), 5);
}

#[tokio::test]
async fn caller_identity_needs_a_signature_with_issued_credentials() {
    let setup = setup().await;

    let unsigned = setup
        .http
        .post(setup.sts.endpoint())
        .form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(
        code(&unsigned.text().await.unwrap()),
        "MissingAuthenticationToken"
    );

    let forged = setup
        .http
        .post(setup.sts.endpoint())
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ASIAUNKNOWN/20260101/us-east-1/sts/aws4_request, \
             SignedHeaders=host, Signature=00",
        )
        .form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(code(&forged.text().await.unwrap()), "InvalidClientTokenId");
    assert!(setup.sts.caller_access_keys().is_empty());
}

#[tokio::test]
async fn recorded_requests_never_show_the_token_in_debug() {
    let setup = setup().await;
    let token = setup.token();
    setup.assume_with(&token, "jane").await;

    let requests = setup.sts.requests();
    let printed = format!("{requests:?} {:?}", setup.sts);

    assert_eq!(requests[0].param("WebIdentityToken"), Some(token.as_str()));
    assert!(!printed.contains(&token), "{printed}");
    assert!(printed.contains("RoleSessionName"));
}
