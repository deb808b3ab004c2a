//! `AwsResources` passes the shared resources conformance suite: lifecycles against moto (an
//! independent implementation of EC2 and RDS, whose changes take effect at once), refusals
//! against a fake that answers as EC2 and RDS refuse, since moto cannot be told to refuse.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use credless_aws::resources::{AwsResources, AwsResourcesConfig};
use credless_exchange::{AwsCredentials, Credentials, Secret};
use credless_registry::{Account, AwsAccount};
use credless_resources::conformance::{Fault, Harness, Operation};
use credless_resources::{Kind, ResourceId, ResourceProvider, ResourceRequest};
use credless_testkit::moto::MotoServer;
use wiremock::matchers::{body_string_contains, header_regex, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REGION: &str = "us-east-1";

/// An AMI moto knows.
const IMAGE: &str = "ami-03cf127a";

struct AwsHarness {
    _moto: MotoServer,
    provider: Arc<AwsResources>,
    refusals: MockServer,
}

async fn harness() -> AwsHarness {
    let moto = MotoServer::start().await.unwrap();
    moto.reset().await.unwrap();
    let provider = AwsResources::new(AwsResourcesConfig {
        allow_insecure_upstreams: true,
        ..AwsResourcesConfig::with_endpoint(moto.endpoint())
    })
    .unwrap();
    AwsHarness {
        _moto: moto,
        provider: Arc::new(provider),
        refusals: MockServer::start().await,
    }
}

credless_resources::conformance_tests!(harness);

/// EC2's error document.
fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors>\
         <RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
    )
}

/// RDS's error document.
fn rds_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\n  <Error>\n    \
         <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  \
         </Error>\n  <RequestId>5e2a9a5f-2b61-4d7e-a3c6-example</RequestId>\n</ErrorResponse>"
    )
}

/// The service, Query API action, status and error document AWS refuses `operation` with.
fn refusal(fault: Fault, operation: Operation) -> (&'static str, &'static str, u16, String) {
    let (service, action) = match operation {
        Operation::Create(Kind::Vm) => ("ec2", "RunInstances"),
        Operation::List(Kind::Vm) | Operation::Get(Kind::Vm) => ("ec2", "DescribeInstances"),
        Operation::Create(Kind::Database) => ("rds", "CreateDBInstance"),
        Operation::List(Kind::Database) | Operation::Get(Kind::Database) => {
            ("rds", "DescribeDBInstances")
        }
    };
    let (status, code, message) = match (service, fault) {
        ("ec2", Fault::Denied) => (403, "UnauthorizedOperation", "You are not authorized."),
        ("ec2", Fault::Quota) => (400, "InstanceLimitExceeded", "Your quota allows 0 more."),
        ("ec2", Fault::Throttled) => (503, "RequestLimitExceeded", "Request limit exceeded."),
        (_, Fault::Denied) => (403, "AccessDenied", "Not authorized to perform rds:*"),
        (_, Fault::Quota) => (
            400,
            "InstanceQuotaExceeded",
            "Cannot create more instances.",
        ),
        (_, Fault::Throttled) => (400, "Throttling", "Rate exceeded"),
    };
    let body = match service {
        "ec2" => ec2_error(code, message),
        _ => rds_error(code, message),
    };
    (service, action, status, body)
}

fn request(kind: Kind, name: &str) -> ResourceRequest {
    ResourceRequest {
        kind,
        name: name.into(),
        region: REGION.into(),
        size: "small".into(),
        image: (kind == Kind::Vm).then(|| IMAGE.to_owned()),
        engine: None,
        engine_version: None,
        tags: BTreeMap::from([("team".to_owned(), "web".to_owned())]),
    }
}

#[async_trait]
impl Harness for AwsHarness {
    fn provider(&self) -> Arc<dyn ResourceProvider> {
        self.provider.clone()
    }

    fn account(&self) -> Account {
        Account::Aws(AwsAccount {
            id: "prod-aws".into(),
            display_name: None,
            allowed_groups: Vec::new(),
            role_arn: "arn:aws:iam::123456789012:role/credless".into(),
            region: REGION.into(),
        })
    }

    fn credentials(&self) -> Credentials {
        Credentials::Aws(AwsCredentials {
            access_key_id: "ASIAEXAMPLEEXAMPLE01".into(),
            secret_access_key: Secret::new("conformance-secret-access-key"),
            session_token: Secret::new("conformance-session-token"),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/credless/jane".into(),
        })
    }

    fn vm_request(&self, name: &str) -> ResourceRequest {
        request(Kind::Vm, name)
    }

    fn database_request(&self, name: &str) -> ResourceRequest {
        request(Kind::Database, name)
    }

    fn missing(&self, kind: Kind) -> ResourceId {
        ResourceId {
            account: "prod-aws".into(),
            kind,
            location: REGION.into(),
            native_id: match kind {
                Kind::Vm => "i-0123456789abcdef0".into(),
                Kind::Database => "ghost".into(),
            },
        }
    }

    async fn faulty(&self, fault: Fault, operation: Operation) -> Arc<dyn ResourceProvider> {
        let (service, action, status, body) = refusal(fault, operation);
        self.refusals.reset().await;
        // Only a SigV4-signed call of the right service and action is refused; anything else
        // gets wiremock's bare 404, which no case expects.
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header_regex(
                "authorization",
                &format!("^AWS4-HMAC-SHA256 Credential=ASIA[A-Z0-9]+/\\d{{8}}/{REGION}/{service}/"),
            ))
            .and(body_string_contains(format!("Action={action}")))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("content-type", "text/xml;charset=UTF-8")
                    .set_body_string(body),
            )
            .mount(&self.refusals)
            .await;
        let refusing = AwsResources::new(AwsResourcesConfig {
            allow_insecure_upstreams: true,
            ..AwsResourcesConfig::with_endpoint(self.refusals.uri())
        })
        .unwrap();
        Arc::new(refusing)
    }
}
