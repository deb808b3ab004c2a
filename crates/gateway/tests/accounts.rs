//! Cloud accounts through the running gateway: onboarding by a tenant admin, trust guidance,
//! and `verify` exchanging the caller's token with each cloud's fake (and AWS against moto).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use credless_testkit::aws_sts::FakeSts;
use credless_testkit::entra::FakeEntra;
use credless_testkit::gcp::{FakeGcp, PoolProvider};
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use serde_json::{Value, json};
use support::{TestGateway, problem};

const HOST: &str = "acme.credless.test";
const AUD: &str = "credless-client";
const ROLE: &str = "arn:aws:iam::123456789012:role/credless";
const DIRECTORY: &str = "11111111-2222-3333-4444-555555555555";
const APP: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const SA: &str = "credless@acme-data.iam.gserviceaccount.com";

struct World {
    gw: TestGateway,
    idp: OidcProvider,
    proxy: OAuth2Proxy,
    sts: FakeSts,
    entra: FakeEntra,
    gcp: FakeGcp,
}

impl World {
    async fn start() -> Self {
        Self::start_with_sts(None).await
    }

    async fn start_with_sts(sts_endpoint: Option<String>) -> Self {
        let idp = OidcProvider::start().await;
        let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;
        let (sts, entra, gcp) = (
            FakeSts::start().await,
            FakeEntra::start().await,
            FakeGcp::start().await,
        );
        sts.register_provider(&idp);
        entra.add_app(DIRECTORY, APP);
        gcp.add_provider(PoolProvider::new(
            "123456789",
            "credless",
            "acme-idp",
            &idp.issuer(),
            [AUD],
        ));
        gcp.add_service_account(SA);
        let sts_endpoint = sts_endpoint.unwrap_or_else(|| sts.endpoint());
        let (entra_host, gcp_uri) = (entra.authority_host(), gcp.uri());
        let gw = TestGateway::start_with(move |c| {
            c.server.allow_insecure_upstreams = true;
            c.clouds.aws.sts_endpoint = sts_endpoint;
            c.clouds.azure.authority_host = entra_host;
            c.clouds.gcp.sts_endpoint = gcp_uri.clone();
            c.clouds.gcp.iam_credentials_endpoint = gcp_uri;
        })
        .await;
        let tenant = json!({
            "id": "acme",
            "admin_email": "ops@acme.example",
            "proxy_url": proxy.url(),
            "oidc": { "issuer": idp.issuer(), "audiences": [AUD] }
        });
        assert_eq!(gw.create_tenant(&tenant).await.status(), 201);
        Self {
            gw,
            idp,
            proxy,
            sts,
            entra,
            gcp,
        }
    }

    fn cookie(&self, user: User) -> String {
        OAuth2Proxy::cookie_header(&self.proxy.sign_in(user))
    }

    fn admin(&self) -> String {
        self.cookie(User::new("admin-1", "ops@acme.example"))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .gw
            .http
            .request(method, self.gw.public(path))
            .header("host", HOST)
            .header("cookie", cookie);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn onboard_all(&self) {
        let admin = self.admin();
        for account in accounts() {
            let path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
            let response = self
                .call(reqwest::Method::PUT, &path, &admin, Some(account))
                .await;
            assert_eq!(response.status(), 201, "{path}");
        }
    }

    async fn verify(&self, account: &str, cookie: &str) -> reqwest::Response {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/accounts/{account}/verify"),
            cookie,
            None,
        )
        .await
    }

    /// Lets `subject` in, in each cloud's fake, as the trust guidance says.
    fn trust(&self, subject: &str) {
        self.sts.trust_role(ROLE, &self.idp.issuer(), AUD, None);
        self.entra
            .add_federated_credential(DIRECTORY, APP, &self.idp.issuer(), subject, AUD)
            .unwrap();
        let member = format!(
            "principal://iam.googleapis.com/projects/123456789/locations/global/\
             workloadIdentityPools/credless/subject/{subject}"
        );
        self.gcp.grant_workload_identity_user(SA, &member);
    }
}

fn accounts() -> Vec<Value> {
    vec![
        json!({"id": "prod-aws", "provider": "aws", "display_name": "Production",
               "role_arn": ROLE, "region": "us-east-1", "allowed_groups": ["platform"]}),
        json!({"id": "dev-azure", "provider": "azure", "tenant_id": DIRECTORY, "client_id": APP,
               "subscription_id": "99999999-8888-7777-6666-555555555555",
               "resource_group": "dev", "region": "westeurope"}),
        json!({"id": "data-gcp", "provider": "gcp", "project_id": "acme-data",
               "project_number": "123456789", "pool_id": "credless", "provider_id": "acme-idp",
               "service_account": SA, "region": "europe-west1"}),
    ]
}

fn platform_user() -> User {
    User::new("u-ada", "ada@acme.example").with_groups(["platform"])
}

#[tokio::test]
async fn an_admin_onboards_each_cloud_and_a_permitted_user_verifies_each() {
    let world = World::start().await;
    world.onboard_all().await;
    world.trust("u-ada");
    let ada = world.cookie(platform_user());

    let listed: Value = world
        .call(reqwest::Method::GET, "/api/v1/accounts", &ada, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["accounts"].as_array().unwrap().len(), 3);

    for (account, identity_part) in [
        ("prod-aws", "assumed-role/credless/ada@acme.example"),
        ("dev-azure", APP),
        ("data-gcp", SA),
    ] {
        let response = world.verify(account, &ada).await;
        assert_eq!(response.status(), 200, "{account}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["ok"], true);
        assert!(
            body["cloud_identity"]
                .as_str()
                .unwrap()
                .contains(identity_part),
            "{body}"
        );
        assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
        assert!(
            !body.to_string().to_lowercase().contains("secret"),
            "{body}"
        );
    }

    // A second PUT replaces.
    let admin = world.admin();
    let path = "/api/v1/accounts/dev-azure";
    let replaced = world.call(
        reqwest::Method::PUT,
        path,
        &admin,
        Some(accounts()[1].clone()),
    );
    assert_eq!(replaced.await.status(), 200);
}

#[tokio::test]
async fn only_admins_manage_accounts_and_only_allowed_groups_use_them() {
    let world = World::start().await;
    world.onboard_all().await;
    world.trust("u-bob");
    let bob = world.cookie(User::new("u-bob", "bob@acme.example").with_groups(["dev"]));

    let put = world.call(
        reqwest::Method::PUT,
        "/api/v1/accounts/x",
        &bob,
        Some(accounts()[0].clone()),
    );
    assert_eq!(problem(put.await).await.1["code"], "forbidden");
    let trust = world.call(
        reqwest::Method::GET,
        "/api/v1/accounts/prod-aws/trust",
        &bob,
        None,
    );
    assert_eq!(problem(trust.await).await.0, 403);

    let (status, body) = problem(world.verify("prod-aws", &bob).await).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        world.sts.exchanges(),
        0,
        "no exchange for a user outside allowed_groups"
    );

    let listed: Value = world
        .call(reqwest::Method::GET, "/api/v1/accounts", &bob, None)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["data-gcp", "dev-azure"],
        "only usable accounts are listed"
    );

    let missing = world.verify("nope", &bob).await;
    assert_eq!(problem(missing).await.0, 404);
}

#[tokio::test]
async fn bad_account_documents_get_400_naming_the_field() {
    let world = World::start().await;
    let admin = world.admin();
    for (mut doc, field) in [
        (accounts()[0].clone(), "role_arn"),
        (accounts()[1].clone(), "tenant_id"),
        (accounts()[2].clone(), "project_number"),
    ] {
        doc[field] = json!("not valid!");
        let path = format!("/api/v1/accounts/{}", doc["id"].as_str().unwrap());
        let response = world
            .call(reqwest::Method::PUT, &path, &admin, Some(doc))
            .await;
        let (status, body) = problem(response).await;
        assert_eq!((status, body["field"].as_str()), (400, Some(field)));
    }
    let mut unknown = accounts()[0].clone();
    unknown["secret_access_key"] = json!("x");
    let path = "/api/v1/accounts/prod-aws";
    let response = world
        .call(reqwest::Method::PUT, path, &admin, Some(unknown))
        .await;
    let (status, body) = problem(response).await;
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("secret_access_key"),
        "{body}"
    );
}

#[tokio::test]
async fn a_cloud_refusal_comes_back_as_exchange_denied_and_is_not_cached() {
    let world = World::start().await;
    world.onboard_all().await;
    let ada = world.cookie(platform_user());

    // No trust set up yet: every cloud refuses, with its own code.
    for (account, code) in [
        ("prod-aws", "AccessDenied"),
        ("dev-azure", "AADSTS70021"),
        ("data-gcp", "PERMISSION_DENIED"),
    ] {
        let (status, body) = problem(world.verify(account, &ada).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("exchange_denied")),
            "{account}: {body}"
        );
        assert_eq!(body["cloud_code"], code, "{account}");
    }

    world.trust("u-ada");
    for account in ["prod-aws", "dev-azure", "data-gcp"] {
        assert_eq!(
            world.verify(account, &ada).await.status(),
            200,
            "{account}: failure was cached"
        );
    }
}

#[tokio::test]
async fn concurrent_verifies_make_one_exchange_and_users_never_share_credentials() {
    let world = World::start().await;
    world.onboard_all().await;
    world.trust("u-ada");
    let ada = world.cookie(platform_user());
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (http, url, cookie) = (
                world.gw.http.clone(),
                world.gw.public("/api/v1/accounts/prod-aws/verify"),
                ada.clone(),
            );
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .header("host", HOST)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                response.json::<Value>().await.unwrap()["cloud_identity"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
        })
        .collect();
    for call in calls {
        assert!(call.await.unwrap().ends_with("/ada@acme.example"));
    }
    assert_eq!(world.sts.exchanges(), 1);

    let eve = world.cookie(User::new("u-eve", "eve@acme.example").with_groups(["platform"]));
    let body: Value = world.verify("prod-aws", &eve).await.json().await.unwrap();
    assert!(
        body["cloud_identity"]
            .as_str()
            .unwrap()
            .ends_with("/eve@acme.example"),
        "{body}"
    );
    assert_eq!(
        world.sts.exchanges(),
        2,
        "another user gets an exchange of their own"
    );
}

#[tokio::test]
async fn trust_guidance_tells_the_admin_what_to_configure() {
    let world = World::start().await;
    world.onboard_all().await;
    let admin = world.admin();
    let trust = |id: &'static str| {
        let (world, admin) = (&world, admin.clone());
        async move {
            let path = format!("/api/v1/accounts/{id}/trust");
            world.call(reqwest::Method::GET, &path, &admin, None).await
        }
    };

    let aws: Value = trust("prod-aws").await.json().await.unwrap();
    let issuer_path = world
        .idp
        .issuer()
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned();
    let condition = &aws["aws"]["trust_policy"]["Statement"][0]["Condition"]["StringEquals"];
    assert_eq!(
        condition[format!("{issuer_path}:aud")],
        json!([AUD]),
        "{aws}"
    );

    let azure: Value = trust("dev-azure").await.json().await.unwrap();
    assert_eq!(azure["azure"]["federated_credential"]["subject"], "admin-1");
    assert!(
        azure["text"].as_str().unwrap().contains("20"),
        "the 20-credential limit is stated"
    );

    let gcp: Value = trust("data-gcp").await.json().await.unwrap();
    assert!(
        gcp["gcp"]["attribute_condition"]
            .as_str()
            .unwrap()
            .contains(&world.idp.issuer())
    );
}

#[tokio::test]
async fn verify_works_against_moto_sts() {
    let moto = credless_testkit::moto::MotoServer::start()
        .await
        .expect("moto server (pip install 'moto[server]')");
    let world = World::start_with_sts(Some(moto.endpoint())).await;
    world.onboard_all().await;
    let ada = world.cookie(platform_user());
    let response = world.verify("prod-aws", &ada).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["cloud_identity"]
            .as_str()
            .unwrap()
            .contains("assumed-role/credless/ada@acme.example"),
        "{body}"
    );
}
