//! `AwsResources` passes the shared resources conformance suite against the testkit's EC2 and
//! RDS fakes, whose changes take a read or two to settle as AWS's take time; refusals come from
//! the same fakes, told to refuse the next call.

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
use credless_testkit::AwsFailure;
use credless_testkit::ec2::FakeEc2;
use credless_testkit::rds::FakeRds;

const REGION: &str = "us-east-1";

struct FakeHarness {
    ec2: FakeEc2,
    rds: FakeRds,
    provider: Arc<AwsResources>,
}

async fn harness() -> FakeHarness {
    let (ec2, rds) = tokio::join!(FakeEc2::start(), FakeRds::start());
    // Settling by reads only, so that a slow machine sees every intermediate state.
    ec2.set_pace(1, Duration::from_secs(3600));
    rds.set_pace(1, Duration::from_secs(3600));
    let provider = AwsResources::new(AwsResourcesConfig {
        ec2_endpoint: ec2.endpoint(),
        rds_endpoint: rds.endpoint(),
        allow_insecure_upstreams: true,
        ..AwsResourcesConfig::default()
    })
    .unwrap();
    FakeHarness {
        ec2,
        rds,
        provider: Arc::new(provider),
    }
}

credless_resources::conformance_tests!(harness);

fn request(kind: Kind, name: &str) -> ResourceRequest {
    ResourceRequest {
        kind,
        name: name.into(),
        region: REGION.into(),
        size: "small".into(),
        image: (kind == Kind::Vm).then(|| "ami-0abcdef1234567890".to_owned()),
        engine: None,
        engine_version: None,
        tags: BTreeMap::from([("team".to_owned(), "web".to_owned())]),
    }
}

#[async_trait]
impl Harness for FakeHarness {
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
        let failure = match fault {
            Fault::Denied => AwsFailure::Denied,
            Fault::Quota => AwsFailure::Quota,
            Fault::Throttled => AwsFailure::Throttled,
        };
        match operation {
            Operation::Create(Kind::Vm) => self.ec2.fail_next("RunInstances", failure),
            Operation::List(Kind::Vm) | Operation::Get(Kind::Vm) => {
                self.ec2.fail_next("DescribeInstances", failure);
            }
            Operation::Create(Kind::Database) => self.rds.fail_next("CreateDBInstance", failure),
            Operation::List(Kind::Database) | Operation::Get(Kind::Database) => {
                self.rds.fail_next("DescribeDBInstances", failure);
            }
        }
        self.provider.clone()
    }
}

/// The fakes refuse what AWS refuses: an unsigned call, an instance that is not there, a
/// second database of the same name, a stop of an instance that is still pending.
#[tokio::test]
async fn the_fakes_refuse_as_aws_does() {
    let (ec2, rds) = tokio::join!(FakeEc2::start(), FakeRds::start());
    let http = reqwest::Client::new();
    let unsigned = http
        .post(ec2.endpoint())
        .form(&[("Action", "DescribeInstances"), ("Version", "2016-11-15")])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert!(
        unsigned
            .text()
            .await
            .unwrap()
            .contains("MissingAuthenticationToken")
    );

    let h = FakeHarness {
        provider: Arc::new(
            AwsResources::new(AwsResourcesConfig {
                ec2_endpoint: ec2.endpoint(),
                rds_endpoint: rds.endpoint(),
                allow_insecure_upstreams: true,
                ..AwsResourcesConfig::default()
            })
            .unwrap(),
        ),
        ec2,
        rds,
    };
    let (account, credentials) = (h.account(), h.credentials());
    let cx = credless_resources::ResourceContext {
        account: &account,
        credentials: &credentials,
    };
    h.ec2.set_pace(5, Duration::from_secs(3600));
    let vm = h
        .provider
        .create(cx, &request(Kind::Vm, "web-1"))
        .await
        .unwrap();
    let id = ResourceId::decode(&vm.resource.id).unwrap();
    let stop = h.provider.stop(cx, &id).await.unwrap_err();
    assert_eq!(
        stop.cloud_code(),
        Some("IncorrectInstanceState"),
        "{stop:?}"
    );
    assert_eq!(
        h.ec2.instance_state(&id.native_id).as_deref(),
        Some("pending")
    );

    h.provider
        .create(cx, &request(Kind::Database, "orders"))
        .await
        .unwrap();
    let again = h
        .provider
        .create(cx, &request(Kind::Database, "orders"))
        .await
        .unwrap_err();
    assert_eq!(
        again.cloud_code(),
        Some("DBInstanceAlreadyExists"),
        "{again:?}"
    );
    assert_eq!(h.rds.status("orders").as_deref(), Some("creating"));
}
