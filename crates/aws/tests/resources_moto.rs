//! EC2 instances and RDS databases against moto, an independent implementation of both APIs:
//! the whole lifecycle, the tags a created resource carries, and what a managed-only list
//! leaves out.
//!
//! moto accepts any credentials and does not check signatures: the refusals and the signature
//! itself are tested against fakes in `resources_errors.rs`.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use credless_aws::resources::{AwsResources, AwsResourcesConfig};
use credless_exchange::{AwsCredentials, Credentials, Secret};
use credless_registry::{Account, AwsAccount};
use credless_resources::{
    Kind, ResourceContext, ResourceError, ResourceId, ResourceProvider as _, ResourceRequest, State,
};
use credless_testkit::moto::MotoServer;

const REGION: &str = "us-east-1";

/// An AMI moto knows.
const IMAGE: &str = "ami-03cf127a";

struct World {
    moto: MotoServer,
    provider: AwsResources,
    account: Account,
    credentials: Credentials,
}

impl World {
    async fn start() -> Self {
        let moto = MotoServer::start().await.unwrap();
        moto.reset().await.unwrap();
        let config = AwsResourcesConfig {
            allow_insecure_upstreams: true,
            ..AwsResourcesConfig::with_endpoint(moto.endpoint())
        };
        Self {
            provider: AwsResources::new(config).unwrap(),
            moto,
            account: Account::Aws(AwsAccount {
                id: "prod-aws".into(),
                display_name: None,
                allowed_groups: Vec::new(),
                role_arn: "arn:aws:iam::123456789012:role/credless".into(),
                region: REGION.into(),
            }),
            credentials: Credentials::Aws(AwsCredentials {
                access_key_id: "ASIAEXAMPLEEXAMPLE01".into(),
                secret_access_key: Secret::new("dummy-secret"),
                session_token: Secret::new("dummy-session-token"),
                expires_at: SystemTime::now() + Duration::from_secs(3600),
                assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/credless/jane".into(),
            }),
        }
    }

    fn cx(&self) -> ResourceContext<'_> {
        ResourceContext {
            account: &self.account,
            credentials: &self.credentials,
        }
    }

    /// A Query API call of the test's own, outside the provider. moto reads the region and
    /// the service from the credential scope and checks no signature.
    async fn raw(&self, service: &str, form: &str) -> String {
        let scope = format!("AKIDEXAMPLE/20260101/{REGION}/{service}/aws4_request");
        reqwest::Client::new()
            .post(self.moto.endpoint())
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
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

fn id_of(resource: &credless_resources::Resource) -> ResourceId {
    ResourceId::decode(&resource.id).unwrap()
}

#[tokio::test]
async fn a_vm_goes_through_its_whole_lifecycle() {
    let world = World::start().await;
    let cx = world.cx();

    let created = world
        .provider
        .create(cx, &request(Kind::Vm, "web-1"))
        .await
        .unwrap();
    let vm = created.resource;
    assert!(created.one_time_secret.is_none());
    assert_eq!(vm.state, State::Pending);
    assert_eq!((vm.name.as_str(), vm.size.as_str()), ("web-1", "t3.small"));
    assert!(vm.native_id.starts_with("i-"), "{}", vm.native_id);
    let id = id_of(&vm);
    assert_eq!(
        (id.account.as_str(), id.kind, id.location.as_str()),
        ("prod-aws", Kind::Vm, REGION)
    );
    assert_eq!(id.native_id, vm.native_id);

    let read = world.provider.get(cx, &id).await.unwrap();
    assert_eq!(read.state, State::Running);
    assert_eq!(read.details["image"], IMAGE);
    assert_eq!(read.tags["team"], "web");
    assert_eq!(read.tags["managed-by"], "credless");

    let stopping = world.provider.stop(cx, &id).await.unwrap();
    assert!(
        matches!(stopping.state, State::Stopping | State::Stopped),
        "{:?}",
        stopping.state
    );
    assert_eq!(
        world.provider.get(cx, &id).await.unwrap().state,
        State::Stopped
    );

    let starting = world.provider.start(cx, &id).await.unwrap();
    assert!(
        matches!(starting.state, State::Pending | State::Running),
        "{:?}",
        starting.state
    );
    assert_eq!(
        world.provider.get(cx, &id).await.unwrap().state,
        State::Running
    );

    let deleting = world.provider.delete(cx, &id).await.unwrap();
    assert!(
        matches!(deleting.state, State::Deleting | State::Deleted),
        "{:?}",
        deleting.state
    );
    let gone = world.provider.get(cx, &id).await.unwrap();
    assert_eq!(gone.state, State::Deleted);
    assert_eq!(gone.details["native_state"], "terminated");
}

#[tokio::test]
async fn run_instances_puts_the_name_the_managed_tag_and_the_request_tags_on_the_instance() {
    let world = World::start().await;
    let vm = world
        .provider
        .create(world.cx(), &request(Kind::Vm, "web-1"))
        .await
        .unwrap();

    // Ask moto itself, with its own tag filters, which instances carry each tag.
    for (key, value) in [
        ("Name", "web-1"),
        ("managed-by", "credless"),
        ("team", "web"),
    ] {
        let form = format!(
            "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:{key}\
             &Filter.1.Value.1={value}"
        );
        let answer = world.raw("ec2", &form).await;
        assert!(
            answer.contains(&vm.resource.native_id),
            "{key}={value}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_database_goes_through_its_whole_lifecycle_without_a_password() {
    let world = World::start().await;
    let cx = world.cx();

    let created = world
        .provider
        .create(cx, &request(Kind::Database, "orders"))
        .await
        .unwrap();
    assert!(created.one_time_secret.is_none());
    let db = created.resource;
    assert!(
        matches!(db.state, State::Pending | State::Running),
        "{:?}",
        db.state
    );
    assert_eq!(
        (db.name.as_str(), db.size.as_str()),
        ("orders", "db.t4g.micro")
    );
    assert_eq!(db.native_id, "orders");
    assert_eq!(db.details["engine"], "postgres");
    assert_eq!(db.details["master_username"], "credless_admin");
    assert_eq!(db.details["iam_database_authentication"], true);
    // RDS generated the master password and keeps it in Secrets Manager.
    let secret_arn = db.details["master_user_secret_arn"].as_str().unwrap();
    assert!(
        secret_arn.starts_with("arn:aws:secretsmanager:"),
        "{secret_arn}"
    );
    let id = id_of(&db);

    let read = world.provider.get(cx, &id).await.unwrap();
    assert_eq!(read.state, State::Running);
    assert_eq!(read.tags["team"], "web");
    assert_eq!(read.tags["managed-by"], "credless");
    assert!(!read.tags.contains_key("Name"));

    let stopped = world.provider.stop(cx, &id).await.unwrap();
    assert!(
        matches!(stopped.state, State::Stopping | State::Stopped),
        "{:?}",
        stopped.state
    );
    assert_eq!(
        world.provider.get(cx, &id).await.unwrap().state,
        State::Stopped
    );

    let started = world.provider.start(cx, &id).await.unwrap();
    assert!(
        matches!(started.state, State::Pending | State::Running),
        "{:?}",
        started.state
    );
    assert_eq!(
        world.provider.get(cx, &id).await.unwrap().state,
        State::Running
    );

    let deleting = world.provider.delete(cx, &id).await.unwrap();
    assert_eq!(deleting.state, State::Deleting);
    let gone = world.provider.get(cx, &id).await.unwrap_err();
    assert!(matches!(gone, ResourceError::NotFound { .. }), "{gone:?}");
}

#[tokio::test]
async fn a_managed_only_list_leaves_out_what_credless_did_not_create() {
    let world = World::start().await;
    let cx = world.cx();
    let vm = world
        .provider
        .create(cx, &request(Kind::Vm, "web-1"))
        .await
        .unwrap()
        .resource;
    let db = world
        .provider
        .create(cx, &request(Kind::Database, "orders"))
        .await
        .unwrap();
    world
        .raw(
            "ec2",
            &format!(
                "Action=RunInstances&Version=2016-11-15&ImageId={IMAGE}&MinCount=1&MaxCount=1"
            ),
        )
        .await;
    world
        .raw(
            "rds",
            "Action=CreateDBInstance&Version=2014-10-31&DBInstanceIdentifier=legacy\
             &Engine=postgres&DBInstanceClass=db.t3.micro&AllocatedStorage=20\
             &MasterUsername=admin&MasterUserPassword=not-a-real-password",
        )
        .await;

    let native_ids = |resources: Vec<credless_resources::Resource>| {
        let mut ids: Vec<String> = resources.into_iter().map(|r| r.native_id).collect();
        ids.sort();
        ids
    };
    let managed_vms = world.provider.list(cx, Kind::Vm, true).await.unwrap();
    assert_eq!(native_ids(managed_vms), vec![vm.native_id.clone()]);
    let all_vms = world.provider.list(cx, Kind::Vm, false).await.unwrap();
    assert_eq!(all_vms.len(), 2);
    assert!(
        all_vms
            .iter()
            .any(|other| other.native_id != vm.native_id && other.tags.is_empty())
    );

    let managed_dbs = world.provider.list(cx, Kind::Database, true).await.unwrap();
    assert_eq!(native_ids(managed_dbs), vec![db.resource.native_id]);
    let all_dbs = world
        .provider
        .list(cx, Kind::Database, false)
        .await
        .unwrap();
    assert_eq!(
        native_ids(all_dbs),
        vec!["legacy".to_owned(), "orders".to_owned()]
    );
}
