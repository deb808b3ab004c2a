//! How `GcpResources` reports Google's refusals and failures: by what the caller can do.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use credless_exchange::{AccessToken, AwsCredentials, Credentials, Secret};
use credless_gcp::resources::{GcpResources, ResourcesConfig};
use credless_registry::{Account, GcpAccount};
use credless_resources::{
    Kind, ResourceContext, ResourceError, ResourceId, ResourceProvider, ResourceRequest,
};
use credless_testkit::gce::{FakeGce, GceCall, GceFailure};

const PROJECT: &str = "acme-data";
const TOKEN: &str = "ya29.c.SECRET-TOKEN-VALUE";

struct World {
    gce: FakeGce,
    provider: GcpResources,
    account: Account,
    credentials: Credentials,
}

impl World {
    async fn start() -> Self {
        let gce = FakeGce::start().await;
        let provider = GcpResources::new(ResourcesConfig {
            compute_endpoint: gce.uri(),
            sql_admin_endpoint: gce.uri(),
            timeout: Duration::from_secs(2),
            allow_insecure_upstreams: true,
            ..ResourcesConfig::default()
        })
        .unwrap();
        let account = Account::Gcp(GcpAccount {
            id: "data-gcp".into(),
            display_name: None,
            allowed_groups: Vec::new(),
            project_id: PROJECT.into(),
            project_number: "123456789".into(),
            pool_id: "credless".into(),
            provider_id: "acme".into(),
            service_account: "credless@acme-data.iam.gserviceaccount.com".into(),
            region: "europe-west1".into(),
        });
        let credentials = Credentials::Gcp(AccessToken {
            token: Secret::new(TOKEN),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
            cloud_identity: "credless@acme-data.iam.gserviceaccount.com".into(),
        });
        Self {
            gce,
            provider,
            account,
            credentials,
        }
    }

    fn cx(&self) -> ResourceContext<'_> {
        ResourceContext {
            account: &self.account,
            credentials: &self.credentials,
        }
    }

    async fn create(&self, kind: Kind, name: &str, size: &str) -> Result<(), ResourceError> {
        let request = ResourceRequest {
            kind,
            name: name.into(),
            region: "europe-west1".into(),
            size: size.into(),
            image: None,
            engine: None,
            engine_version: None,
            tags: BTreeMap::new(),
        };
        self.provider.create(self.cx(), &request).await.map(|_| ())
    }

    fn vm_id(&self, name: &str) -> ResourceId {
        ResourceId {
            account: "data-gcp".into(),
            kind: Kind::Vm,
            location: "europe-west1-b".into(),
            native_id: name.into(),
        }
    }
}

#[tokio::test]
async fn a_missing_permission_is_denied_with_googles_reason_and_no_token_leaks() {
    let world = World::start().await;
    world
        .gce
        .fail_next(GceCall::ComputeInsert, GceFailure::Denied);

    let error = world.create(Kind::Vm, "web-1", "small").await.unwrap_err();

    match &error {
        ResourceError::Denied {
            cloud_code,
            message,
        } => {
            assert_eq!(cloud_code, "forbidden");
            assert!(message.contains("compute.instances.create"), "{message}");
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    let printed = format!(
        "{error} {error:?} {:?} {:?}",
        world.provider, world.credentials
    );
    assert!(!printed.contains(TOKEN), "{printed}");
}

#[tokio::test]
async fn a_used_up_quota_is_quota_and_a_rate_limit_is_throttled_with_its_wait() {
    let world = World::start().await;
    world
        .gce
        .fail_next(GceCall::ComputeInsert, GceFailure::Quota);
    world.gce.fail_next(GceCall::SqlInsert, GceFailure::Quota);
    world
        .gce
        .fail_next(GceCall::ComputeGet, GceFailure::Throttle);

    let vm = world.create(Kind::Vm, "web-1", "large").await.unwrap_err();
    let db = world
        .create(Kind::Database, "orders", "small")
        .await
        .unwrap_err();
    let read = world
        .provider
        .get(world.cx(), &world.vm_id("web-1"))
        .await
        .unwrap_err();

    assert!(
        matches!(&vm, ResourceError::Quota { cloud_code, .. } if cloud_code == "quotaExceeded")
    );
    assert!(matches!(db, ResourceError::Quota { .. }), "{db:?}");
    match read {
        ResourceError::Throttled {
            retry_after,
            cloud_code,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(2)));
            assert_eq!(cloud_code, "rateLimitExceeded");
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_resource_is_not_found_and_a_server_error_unavailable() {
    let world = World::start().await;
    world
        .gce
        .fail_next(GceCall::SqlList, GceFailure::ServerError);

    let missing_vm = world
        .provider
        .stop(world.cx(), &world.vm_id("ghost"))
        .await
        .unwrap_err();
    let db_id = ResourceId {
        kind: Kind::Database,
        location: "europe-west1".into(),
        ..world.vm_id("ghost")
    };
    let missing_db = world.provider.delete(world.cx(), &db_id).await.unwrap_err();
    let list = world
        .provider
        .list(world.cx(), Kind::Database, true)
        .await
        .unwrap_err();

    assert!(
        matches!(missing_vm, ResourceError::NotFound { .. }),
        "{missing_vm:?}"
    );
    assert!(
        matches!(missing_db, ResourceError::NotFound { .. }),
        "{missing_db:?}"
    );
    assert!(
        matches!(list, ResourceError::Unavailable { .. }),
        "{list:?}"
    );
    assert_eq!(world.gce.calls(GceCall::ComputeStop), 0, "nothing to stop");
}

#[tokio::test]
async fn what_google_refuses_as_invalid_or_conflicting_says_so() {
    let world = World::start().await;
    world.create(Kind::Vm, "web-1", "small").await.unwrap();

    let unknown_type = world
        .create(Kind::Vm, "web-2", "n9-giant-1")
        .await
        .unwrap_err();
    let taken = world.create(Kind::Vm, "web-1", "small").await.unwrap_err();
    let busy = world
        .provider
        .stop(world.cx(), &world.vm_id("web-1"))
        .await
        .unwrap_err();
    let bad_name = world.create(Kind::Vm, "Web_1", "small").await.unwrap_err();

    assert!(
        matches!(&unknown_type, ResourceError::Invalid { field, .. } if field == "size"),
        "{unknown_type:?}"
    );
    assert!(matches!(taken, ResourceError::Conflict { .. }), "{taken:?}");
    assert!(
        matches!(busy, ResourceError::Conflict { .. }),
        "still provisioning: {busy:?}"
    );
    assert!(matches!(&bad_name, ResourceError::Invalid { field, .. } if field == "name"));
    assert_eq!(
        world.gce.calls(GceCall::ComputeInsert),
        3,
        "a bad name is refused locally"
    );
}

#[tokio::test]
async fn other_clouds_credentials_and_other_accounts_ids_are_refused_before_any_call() {
    let world = World::start().await;
    let aws = Credentials::Aws(AwsCredentials {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: Secret::new("secret"),
        session_token: Secret::new("session"),
        expires_at: SystemTime::now() + Duration::from_secs(3600),
        assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/credless/alice".into(),
    });
    let cx = ResourceContext {
        account: &world.account,
        credentials: &aws,
    };
    let foreign = ResourceId {
        account: "other".into(),
        ..world.vm_id("web-1")
    };

    let wrong_cloud = world.provider.list(cx, Kind::Vm, true).await.unwrap_err();
    let wrong_account = world.provider.get(world.cx(), &foreign).await.unwrap_err();

    assert!(matches!(&wrong_cloud, ResourceError::Invalid { field, .. } if field == "credentials"));
    assert!(matches!(wrong_account, ResourceError::NotFound { .. }));
    assert!(world.gce.requests().is_empty());
}
