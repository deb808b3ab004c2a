//! The fake GCP token services, exercised over HTTP as Google's clients use them.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::time::{Duration, SystemTime};

use credless_testkit::gcp::{AttributeCondition, FakeGcp, GcpEndpoint, GcpFailure, PoolProvider};
use credless_testkit::{OidcProvider, TokenKey, TokenOptions};
use serde_json::{Value, json};

const NUMBER: &str = "123456789";
const SA: &str = "credless@acme-data.iam.gserviceaccount.com";
const CLIENT: &str = "credless-client";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

struct World {
    oidc: OidcProvider,
    gcp: FakeGcp,
    client: reqwest::Client,
}

fn audience() -> String {
    format!(
        "//iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/pool/\
         providers/idp"
    )
}

fn pool_member(rest: &str) -> String {
    format!(
        "iam.googleapis.com/projects/{NUMBER}/locations/global/workloadIdentityPools/pool/{rest}"
    )
}

async fn world() -> World {
    let oidc = OidcProvider::start().await;
    let gcp = FakeGcp::start().await;
    gcp.add_provider(PoolProvider::new(
        NUMBER,
        "pool",
        "idp",
        &oidc.issuer(),
        [CLIENT],
    ));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    World { oidc, gcp, client }
}

impl World {
    fn form(&self, subject_token: &str) -> Vec<(&'static str, String)> {
        vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".into(),
            ),
            ("audience", audience()),
            ("scope", "https://www.googleapis.com/auth/iam".into()),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token".into(),
            ),
            ("subject_token", subject_token.into()),
            ("subject_token_type", JWT.into()),
        ]
    }

    async fn sts(&self, form: &[(&'static str, String)]) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/v1/token", self.gcp.uri()))
            .form(form)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn federated(&self, sub: &str) -> String {
        let token = self.oidc.id_token(sub, "a@acme.example", CLIENT, &["ops"]);
        let (status, body) = self.sts(&self.form(&token)).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn generate(&self, bearer: &str, body: Value) -> (u16, Value) {
        let url = format!(
            "{}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken",
            self.gcp.uri()
        );
        let response = self
            .client
            .post(url)
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

fn scope_body() -> Value {
    json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "600s"})
}

#[tokio::test]
async fn a_valid_token_becomes_a_federated_token_then_a_service_account_token() {
    let world = world().await;
    world
        .gcp
        .grant_workload_identity_user(SA, &format!("principal://{}", pool_member("subject/u1")));

    let token = world.oidc.id_token("u1", "a@acme.example", CLIENT, &[]);
    let (status, body) = world.sts(&world.form(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert!(body["expires_in"].as_u64().unwrap() <= 3600);

    let federated = body["access_token"].as_str().unwrap();
    let (status, body) = world.generate(federated, scope_body()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["accessToken"].as_str().unwrap().starts_with("ya29."));
    let expires = humantime::parse_rfc3339(body["expireTime"].as_str().unwrap()).unwrap();
    let lifetime = expires.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime > Duration::from_secs(590) && lifetime <= Duration::from_secs(600));
    let counts = world.gcp.exchanges();
    assert_eq!(
        (counts.sts, counts.iam_credentials, counts.tokens_issued),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn the_sts_refuses_an_authorization_header_and_wrong_parameters() {
    let world = world().await;
    let token = world.oidc.id_token("u1", "", CLIENT, &[]);
    let with_header = world
        .client
        .post(format!("{}/v1/token", world.gcp.uri()))
        .basic_auth("client", Some("secret"))
        .form(&world.form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), 400);

    let mut wrong_grant = world.form(&token);
    wrong_grant[0].1 = "client_credentials".into();
    let mut wrong_audience = world.form(&token);
    wrong_audience[1].1 = "projects/123/pools/pool".into();
    let mut unknown_provider = world.form(&token);
    unknown_provider[1].1 = audience().replace("/idp", "/other");

    assert_eq!(
        world.sts(&wrong_grant).await.1["error"],
        "unsupported_grant_type"
    );
    assert_eq!(
        world.sts(&wrong_audience).await.1["error"],
        "invalid_request"
    );
    let (status, body) = world.sts(&unknown_provider).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    world.gcp.set_provider_disabled(NUMBER, "pool", "idp", true);
    assert_eq!(
        world.sts(&world.form(&token)).await.1["error"],
        "invalid_target"
    );
}

#[tokio::test]
async fn the_sts_verifies_signature_audience_expiry_and_condition() {
    let world = world().await;
    let claims = |aud: &str| world.oidc.claims_for(&credless_testkit::User::demo(), aud);
    let mut expired = claims(CLIENT);
    expired["exp"] = json!(1_000);
    let forgeries = [
        world
            .oidc
            .mint_with(TokenOptions::new(TokenKey::Unpublished), claims(CLIENT)),
        world
            .oidc
            .mint_with(TokenOptions::new(TokenKey::AlgNone), claims(CLIENT)),
        world.oidc.mint(claims("someone-else")),
        world.oidc.mint(expired),
    ];
    for token in &forgeries {
        let (status, body) = world.sts(&world.form(token)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
    }
    let (_, body) = world.sts(&world.form(&forgeries[2])).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("audience")
    );

    let es256 = world
        .oidc
        .mint_with(TokenOptions::new(TokenKey::Ec), claims(CLIENT));
    assert_eq!(world.sts(&world.form(&es256)).await.0, 200);

    let only_u2 = AttributeCondition::subjects(["u2"]);
    let provider = PoolProvider::new(NUMBER, "pool", "idp", &world.oidc.issuer(), [CLIENT]);
    world.gcp.add_provider(provider.with_condition(only_u2));
    let (status, body) = world
        .sts(&world.form(&world.oidc.id_token("u1", "", CLIENT, &[])))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    assert_eq!(
        world
            .sts(&world.form(&world.oidc.id_token("u2", "", CLIENT, &[])))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn without_allowed_audiences_only_the_default_audience_is_accepted() {
    let world = world().await;
    let issuer = world.oidc.issuer();
    world.gcp.add_provider(PoolProvider::new(
        NUMBER,
        "pool",
        "idp",
        &issuer,
        Vec::<String>::new(),
    ));

    let default = format!("https:{}", audience());
    let accepted = world.oidc.id_token("u1", "", &default, &[]);
    let refused = world.oidc.id_token("u1", "", CLIENT, &[]);

    assert_eq!(world.sts(&world.form(&accepted)).await.0, 200);
    assert_eq!(
        world.sts(&world.form(&refused)).await.1["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn uploaded_keys_replace_the_issuers() {
    let world = world().await;
    let provider = PoolProvider::new(NUMBER, "pool", "idp", &world.oidc.issuer(), [CLIENT]);
    world
        .gcp
        .add_provider(provider.with_jwks(json!({"keys": []})));

    let token = world.oidc.id_token("u1", "", CLIENT, &[]);

    assert_eq!(
        world.sts(&world.form(&token)).await.1["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn the_sts_accepts_json_with_camel_case_names() {
    let world = world().await;
    let token = world.oidc.id_token("u1", "", CLIENT, &[]);
    let body = json!({
        "grantType": "urn:ietf:params:oauth:grant-type:token-exchange",
        "audience": audience(),
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "requestedTokenType": "urn:ietf:params:oauth:token-type:access_token",
        "subjectToken": token,
        "subjectTokenType": JWT,
    });

    let response = world
        .client
        .post(format!("{}/v1/token", world.gcp.uri()))
        .json(&body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn impersonation_needs_a_live_federated_token_and_a_binding() {
    let world = world().await;
    let federated = world.federated("u1").await;

    let (status, body) = world.generate("not-issued", scope_body()).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );

    let (status, body) = world.generate(&federated, scope_body()).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (404, Some("NOT_FOUND"))
    );

    world.gcp.add_service_account(SA);
    let (status, body) = world.generate(&federated, scope_body()).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );
    assert_eq!(body["error"]["code"], 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("getAccessToken")
    );

    for rest in ["group/ops", "attribute.email/a@acme.example"] {
        let member = format!("principalSet://{}", pool_member(rest));
        world.gcp.grant_workload_identity_user(SA, &member);
        assert_eq!(
            world.generate(&federated, scope_body()).await.0,
            200,
            "{member}"
        );
        world.gcp.revoke_workload_identity_user(SA, &member);
        assert_eq!(
            world.generate(&federated, scope_body()).await.0,
            403,
            "{member}"
        );
    }
}

#[tokio::test]
async fn impersonation_checks_scope_and_lifetime() {
    let world = world().await;
    world
        .gcp
        .grant_workload_identity_user(SA, &format!("principalSet://{}", pool_member("*")));
    let federated = world.federated("u1").await;

    for body in [
        json!({"scope": [], "lifetime": "600s"}),
        json!({"scope": ["x"], "lifetime": "10m"}),
        json!({"scope": ["x"], "lifetime": "43201s"}),
    ] {
        let (status, answer) = world.generate(&federated, body.clone()).await;
        assert_eq!(
            (status, answer["error"]["status"].as_str()),
            (400, Some("INVALID_ARGUMENT"))
        );
    }

    world.gcp.set_lifetime_cap(Some(Duration::from_secs(5)));
    let (_, answer) = world.generate(&federated, scope_body()).await;
    let expires = humantime::parse_rfc3339(answer["expireTime"].as_str().unwrap()).unwrap();
    assert!(expires <= SystemTime::now() + Duration::from_secs(5));
}

#[tokio::test]
async fn failures_are_injected_in_order_then_persistently() {
    let world = world().await;
    let token = world.oidc.id_token("u1", "", CLIENT, &[]);
    world.gcp.fail_next(GcpEndpoint::Sts, GcpFailure::Throttle);
    world
        .gcp
        .fail_next(GcpEndpoint::Sts, GcpFailure::ServerError);

    let throttled = world
        .client
        .post(format!("{}/v1/token", world.gcp.uri()))
        .form(&world.form(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "1");
    let (status, body) = world.sts(&world.form(&token)).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (503, Some("UNAVAILABLE"))
    );
    assert_eq!(world.sts(&world.form(&token)).await.0, 200);

    world
        .gcp
        .set_failing(GcpEndpoint::Sts, Some(GcpFailure::Malformed));
    assert_eq!(world.sts(&world.form(&token)).await, (200, Value::Null));
    assert_eq!(world.sts(&world.form(&token)).await, (200, Value::Null));
    world.gcp.set_failing(GcpEndpoint::Sts, None);
    assert_eq!(world.sts(&world.form(&token)).await.0, 200);
    assert_eq!(world.gcp.exchanges().sts, 6);
}

#[tokio::test]
async fn requests_are_recorded_with_their_bodies() {
    let world = world().await;
    let token = world.oidc.id_token("u1", "", CLIENT, &[]);

    world.sts(&world.form(&token)).await;

    let requests = world.gcp.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].endpoint, Some(GcpEndpoint::Sts));
    assert_eq!(requests[0].request.path, "/v1/token");
    assert_eq!(requests[0].form()["subject_token"], token);
}
