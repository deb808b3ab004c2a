//! `GcpResources` passes the shared resources conformance suite against the stateful Compute
//! Engine and Cloud SQL fake, whose refusals come from `FakeGce::fail_next`.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use credless_exchange::{AccessToken, Credentials, Secret};
use credless_gcp::resources::{GcpResources, ResourcesConfig};
use credless_registry::{Account, GcpAccount};
use credless_resources::conformance::{Fault, Harness, Operation};
use credless_resources::{Kind, ResourceId, ResourceProvider, ResourceRequest};
use credless_testkit::gce::{FakeGce, GceCall, GceFailure};

const PROJECT: &str = "acme-data";
const REGION: &str = "europe-west1";

struct GceHarness {
    gce: FakeGce,
    provider: Arc<GcpResources>,
}

async fn harness() -> GceHarness {
    let gce = FakeGce::start().await;
    let provider = GcpResources::new(ResourcesConfig {
        compute_endpoint: gce.uri(),
        sql_admin_endpoint: gce.uri(),
        timeout: Duration::from_secs(2),
        allow_insecure_upstreams: true,
        ..ResourcesConfig::default()
    })
    .unwrap();
    GceHarness {
        gce,
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
        image: None,
        engine: (kind == Kind::Database).then(|| "postgres".into()),
        engine_version: None,
        // Already a valid label, so Google keeps it as it is.
        tags: BTreeMap::from([("team".into(), "data".into())]),
    }
}

#[async_trait]
impl Harness for GceHarness {
    fn provider(&self) -> Arc<dyn ResourceProvider> {
        self.provider.clone()
    }

    fn account(&self) -> Account {
        Account::Gcp(GcpAccount {
            id: "data-gcp".into(),
            display_name: None,
            allowed_groups: Vec::new(),
            project_id: PROJECT.into(),
            project_number: "123456789".into(),
            pool_id: "credless".into(),
            provider_id: "acme".into(),
            service_account: "credless@acme-data.iam.gserviceaccount.com".into(),
            region: REGION.into(),
        })
    }

    fn credentials(&self) -> Credentials {
        Credentials::Gcp(AccessToken {
            token: Secret::new("ya29.c.CONFORMANCE-ACCESS-TOKEN"),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
            cloud_identity: "credless@acme-data.iam.gserviceaccount.com".into(),
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
            account: "data-gcp".into(),
            kind,
            // VMs live in a zone, Cloud SQL instances in a region.
            location: match kind {
                Kind::Vm => format!("{REGION}-b"),
                Kind::Database => REGION.into(),
            },
            native_id: "ghost".into(),
        }
    }

    async fn faulty(&self, fault: Fault, operation: Operation) -> Arc<dyn ResourceProvider> {
        let call = match operation {
            Operation::Create(Kind::Vm) => GceCall::ComputeInsert,
            Operation::Create(Kind::Database) => GceCall::SqlInsert,
            Operation::List(Kind::Vm) => GceCall::ComputeAggregatedList,
            Operation::List(Kind::Database) => GceCall::SqlList,
            Operation::Get(Kind::Vm) => GceCall::ComputeGet,
            Operation::Get(Kind::Database) => GceCall::SqlGet,
        };
        let failure = match fault {
            Fault::Denied => GceFailure::Denied,
            Fault::Quota => GceFailure::Quota,
            Fault::Throttled => GceFailure::Throttle,
        };
        self.gce.fail_next(call, failure);
        self.provider.clone()
    }
}
