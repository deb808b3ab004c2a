//! VMs through the running gateway, as a signed-in user: AWS against moto (checked in moto
//! itself), Azure and GCP against the testkit's stateful fakes; every step in the audit log.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use credless_testkit::arm::{ArmOp, FakeArm};
use credless_testkit::entra::FakeEntra;
use credless_testkit::gce::{FakeGce, GceCall};
use credless_testkit::gcp::{FakeGcp, PoolProvider};
use credless_testkit::moto::MotoServer;
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use reqwest::Method;
use serde_json::{Value, json};
use support::{TestGateway, problem};

const HOST: &str = "acme.credless.test";
const AUD: &str = "credless-client";
const DIRECTORY: &str = "11111111-2222-3333-4444-555555555555";
const APP: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const SA: &str = "credless@acme-data.iam.gserviceaccount.com";

struct World {
    gw: TestGateway,
    proxy: OAuth2Proxy,
    moto: MotoServer,
    arm: FakeArm,
    gce: FakeGce,
    cookie: String,
    _fakes: (OidcProvider, FakeEntra, FakeGcp),
}

impl World {
    async fn start() -> Self {
        let idp = OidcProvider::start().await;
        let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;
        let moto = MotoServer::start()
            .await
            .expect("moto server (pip install 'moto[server]')");
        let (entra, arm) = (FakeEntra::start().await, FakeArm::start().await);
        let (gcp, gce) = (FakeGcp::start().await, FakeGce::start().await);
        entra.add_app(DIRECTORY, APP);
        entra
            .add_federated_credential(DIRECTORY, APP, &idp.issuer(), "u-ada", AUD)
            .unwrap();
        gcp.add_provider(PoolProvider::new(
            "123456789",
            "credless",
            "acme-idp",
            &idp.issuer(),
            [AUD],
        ));
        gcp.add_service_account(SA);
        gcp.grant_workload_identity_user(
            SA,
            "principal://iam.googleapis.com/projects/123456789/locations/global/\
             workloadIdentityPools/credless/subject/u-ada",
        );
        let (aws, entra_host, arm_uri, gcp_uri, gce_uri) = (
            moto.endpoint(),
            entra.authority_host(),
            arm.management_endpoint(),
            gcp.uri(),
            gce.uri(),
        );
        let gw = TestGateway::start_with(move |c| {
            c.server.allow_insecure_upstreams = true;
            c.clouds.aws.sts_endpoint = aws.clone();
            c.clouds.aws.ec2_endpoint = aws.clone();
            c.clouds.aws.rds_endpoint = aws;
            c.clouds.azure.authority_host = entra_host;
            c.clouds.azure.management_endpoint = arm_uri;
            c.clouds.gcp.sts_endpoint = gcp_uri.clone();
            c.clouds.gcp.iam_credentials_endpoint = gcp_uri;
            c.clouds.gcp.compute_endpoint = gce_uri.clone();
            c.clouds.gcp.sql_admin_endpoint = gce_uri;
        })
        .await;
        let tenant = json!({
            "id": "acme", "admin_email": "ops@acme.example", "proxy_url": proxy.url(),
            "oidc": { "issuer": idp.issuer(), "audiences": [AUD] }
        });
        assert_eq!(gw.create_tenant(&tenant).await.status(), 201);
        let cookie = OAuth2Proxy::cookie_header(
            &proxy.sign_in(User::new("u-ada", "ada@acme.example").with_groups(["platform"])),
        );
        let world = Self {
            gw,
            proxy,
            moto,
            arm,
            gce,
            cookie,
            _fakes: (idp, entra, gcp),
        };
        world.onboard().await;
        world
    }

    async fn onboard(&self) {
        let admin =
            OAuth2Proxy::cookie_header(&self.proxy.sign_in(User::new("admin", "ops@acme.example")));
        for account in [
            json!({"id": "prod-aws", "provider": "aws",
                   "role_arn": "arn:aws:iam::123456789012:role/credless",
                   "region": "us-east-1"}),
            json!({"id": "dev-azure", "provider": "azure", "tenant_id": DIRECTORY, "client_id": APP,
                   "subscription_id": "99999999-8888-7777-6666-555555555555",
                   "resource_group": "dev", "region": "westeurope"}),
            json!({"id": "data-gcp", "provider": "gcp", "project_id": "acme-data",
                   "project_number": "123456789", "pool_id": "credless", "provider_id": "acme-idp",
                   "service_account": SA, "region": "europe-west1"}),
        ] {
            let path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
            assert_eq!(
                self.call_as(&admin, Method::PUT, &path, Some(account), None)
                    .await
                    .status(),
                201
            );
        }
    }

    async fn call_as(
        &self,
        cookie: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
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
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.unwrap()
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        self.call_as(&self.cookie, method, path, body, None).await
    }

    /// Reads the resource until it reaches `state`; each read advances the fakes.
    async fn until(&self, account: &str, id: &str, state: &str) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..20 {
            let response = self
                .call(
                    Method::GET,
                    &format!("/api/v1/accounts/{account}/resources/{id}"),
                    None,
                )
                .await;
            if response.status() == 404 {
                seen.push("gone".to_owned());
                if state == "gone" {
                    return seen;
                }
                break;
            }
            let resource: Value = response.json().await.unwrap();
            let now = resource["state"].as_str().unwrap().to_owned();
            seen.push(now.clone());
            if now == state {
                return seen;
            }
        }
        panic!("{account}/{id} never reached {state}: {seen:?}");
    }

    /// One VM's whole lifecycle through the API; returns the states seen on the way.
    async fn lifecycle(&self, account: &str, image: Option<&str>) -> Vec<String> {
        let base = format!("/api/v1/accounts/{account}/resources");
        let mut request = json!({"kind": "vm", "name": "web-1", "region": region(account),
                                 "size": "small",
                                 "tags": {"team": "web"}});
        if let Some(image) = image {
            request["image"] = json!(image);
        }
        let created = self.call(Method::POST, &base, Some(request)).await;
        assert_eq!(created.status(), 202, "{account}");
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["kind"], "vm");
        assert_eq!(created["tags"]["team"], "web");
        let id = created["id"].as_str().unwrap().to_owned();
        let mut states = vec![created["state"].as_str().unwrap().to_owned()];

        let listed: Value = self
            .call(Method::GET, &format!("{base}?kind=vm"), None)
            .await
            .json()
            .await
            .unwrap();
        assert!(
            listed["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == id.as_str())
        );
        states.extend(self.until(account, &id, "running").await);

        let stop = self
            .call(Method::POST, &format!("{base}/{id}/stop"), None)
            .await;
        assert_eq!(stop.status(), 202);
        states.extend(self.until(account, &id, "stopped").await);
        let start = self
            .call(Method::POST, &format!("{base}/{id}/start"), None)
            .await;
        assert_eq!(start.status(), 202);
        states.extend(self.until(account, &id, "running").await);

        let deleted = self
            .call(Method::DELETE, &format!("{base}/{id}"), None)
            .await;
        assert_eq!(deleted.status(), 202);
        let state: Value = deleted.json().await.unwrap();
        states.push(state["state"].as_str().unwrap().to_owned());
        states
    }

    async fn audit(&self) -> Vec<Value> {
        let admin =
            OAuth2Proxy::cookie_header(&self.proxy.sign_in(User::new("admin", "ops@acme.example")));
        let audit = self
            .call_as(&admin, Method::GET, "/api/v1/audit?limit=500", None, None)
            .await;
        assert_eq!(audit.status(), 200);
        audit.json::<Value>().await.unwrap()["events"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn region(account: &str) -> &'static str {
    match account {
        "prod-aws" => "us-east-1",
        "dev-azure" => "westeurope",
        _ => "europe-west1",
    }
}

/// moto's own view of an instance, through an EC2 DescribeInstances of our own.
async fn moto_instance_state(moto: &MotoServer) -> String {
    let http = reqwest::Client::new();
    let form = [("Action", "DescribeInstances"), ("Version", "2016-11-15")];
    // moto picks the service from the credential scope; it checks no signature.
    let scope = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ec2/aws4_request, \
                 SignedHeaders=host, Signature=0";
    let request = http
        .post(moto.endpoint())
        .header("authorization", scope)
        .form(&form);
    let body = request.send().await.unwrap().text().await.unwrap();
    let start = body.find("<instanceState>").expect("an instance in moto");
    let name = &body[start..];
    let from = name.find("<name>").unwrap() + 6;
    name[from..from + name[from..].find('<').unwrap()].to_owned()
}

#[tokio::test]
async fn vm_lifecycles_in_all_three_clouds_are_audited() {
    let world = World::start().await;

    let aws = world.lifecycle("prod-aws", Some("ami-12c6146b")).await;
    assert_eq!(aws.last().map(String::as_str), Some("deleting"), "{aws:?}");
    assert_eq!(
        moto_instance_state(&world.moto).await,
        "terminated",
        "moto saw the delete"
    );

    let azure = world.lifecycle("dev-azure", None).await;
    assert!(azure.starts_with(&["pending".to_owned()]), "{azure:?}");
    assert_eq!(world.arm.calls(ArmOp::PutVirtualMachine), 1);

    let gcp = world.lifecycle("data-gcp", None).await;
    assert!(gcp.starts_with(&["pending".to_owned()]), "{gcp:?}");
    assert_eq!(world.gce.calls(GceCall::ComputeInsert), 1);

    let events = world.audit().await;
    for account in ["prod-aws", "dev-azure", "data-gcp"] {
        let actions: Vec<&str> = events
            .iter()
            .filter(|e| {
                e["account"] == account && e["action"].as_str().unwrap().starts_with("resource.")
            })
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "resource.delete",
                "resource.start",
                "resource.stop",
                "resource.create"
            ],
            "{account}: newest first"
        );
    }
    let create = events
        .iter()
        .find(|e| e["action"] == "resource.create")
        .unwrap();
    assert_eq!(create["subject"], "u-ada");
    assert_eq!(create["email"], "ada@acme.example");
    assert_eq!(create["outcome"], "success");
    assert_eq!(create["request_id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_makes_one_cloud_call() {
    let world = World::start().await;
    let request = json!({"kind": "vm", "name": "web-2", "region": "westeurope", "size": "small"});
    let path = "/api/v1/accounts/dev-azure/resources";
    let first = world
        .call_as(
            &world.cookie,
            Method::POST,
            path,
            Some(request.clone()),
            Some("k-1"),
        )
        .await;
    let second = world
        .call_as(
            &world.cookie,
            Method::POST,
            path,
            Some(request.clone()),
            Some("k-1"),
        )
        .await;
    assert_eq!(
        (first.status(), second.status()),
        (reqwest::StatusCode::ACCEPTED, reqwest::StatusCode::ACCEPTED)
    );
    let (first, second): (Value, Value) =
        (first.json().await.unwrap(), second.json().await.unwrap());
    assert_eq!(first["id"], second["id"]);
    assert_eq!(world.arm.calls(ArmOp::PutVirtualMachine), 1);

    let mut other = request;
    other["name"] = json!("web-3");
    let reused = world
        .call_as(&world.cookie, Method::POST, path, Some(other), Some("k-1"))
        .await;
    assert_eq!(problem(reused).await.1["field"], "Idempotency-Key");
}

#[tokio::test]
async fn bad_resource_requests_get_400_naming_the_field() {
    let world = World::start().await;
    let path = "/api/v1/accounts/dev-azure/resources";
    let base = json!({"kind": "vm", "name": "web-1", "region": "westeurope", "size": "small"});
    let with = |key: &str, value: Value| {
        let mut doc = base.clone();
        match value {
            Value::Null => {
                doc.as_object_mut().unwrap().remove(key);
            }
            v => doc[key] = v,
        }
        doc
    };
    for (doc, field) in [
        (with("kind", json!("bucket")), "kind"),
        (with("name", json!("Web_1!")), "name"),
        (with("region", Value::Null), "region"),
        (with("colour", json!("blue")), "colour"),
    ] {
        let (status, body) = problem(world.call(Method::POST, path, Some(doc)).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{field}: {body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains(field),
            "{field}: {body}"
        );
    }
    let huge = json!({"kind": "vm", "name": "x", "region": "westeurope", "size": "small",
                      "tags": {"big": "x".repeat(2 * 1024 * 1024)}});
    assert_eq!(
        problem(world.call(Method::POST, path, Some(huge)).await)
            .await
            .1["code"],
        "payload_too_large"
    );
    assert_eq!(
        world.arm.calls(ArmOp::PutVirtualMachine),
        0,
        "nothing reached the cloud"
    );

    let bad_kind = world
        .call(
            Method::GET,
            "/api/v1/accounts/dev-azure/resources?kind=bucket",
            None,
        )
        .await;
    assert_eq!(problem(bad_kind).await.1["field"], "kind");
}

#[tokio::test]
async fn a_resource_id_of_another_account_is_not_found() {
    let world = World::start().await;
    let request = json!({"kind": "vm", "name": "web-1", "region": "westeurope", "size": "small"});
    let created = world
        .call(
            Method::POST,
            "/api/v1/accounts/dev-azure/resources",
            Some(request),
        )
        .await;
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = world
        .call(
            Method::GET,
            &format!("/api/v1/accounts/data-gcp/resources/{id}"),
            None,
        )
        .await;
    assert_eq!(problem(elsewhere).await.0, 404);
    let forged = world
        .call(
            Method::GET,
            "/api/v1/accounts/dev-azure/resources/bm90LWFuLWlk",
            None,
        )
        .await;
    assert_eq!(problem(forged).await.0, 404);
}
