//! `AzureResources` passes the shared resources conformance suite against the stateful fake
//! Azure Resource Manager, whose refusals come from `FakeArm::fail_next`.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use credless_azure::resources::{AzureResources, AzureResourcesConfig};
use credless_exchange::{AccessToken, Credentials, Secret};
use credless_registry::{Account, AzureAccount};
use credless_resources::conformance::{Fault, Harness, Operation};
use credless_resources::{Kind, ResourceId, ResourceProvider, ResourceRequest};
use credless_testkit::arm::{ArmOp, FakeArm, FakeArmFailure};

const SUBSCRIPTION: &str = "00000000-1111-2222-3333-444444444444";
const GROUP: &str = "dev";
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.conformance-arm-token";

struct ArmHarness {
    arm: FakeArm,
    provider: Arc<AzureResources>,
}

async fn harness() -> ArmHarness {
    let arm = FakeArm::start().await;
    arm.require_token(TOKEN);
    let provider = AzureResources::new(&AzureResourcesConfig {
        management_endpoint: arm.management_endpoint(),
        allow_insecure_upstreams: true,
        ..AzureResourcesConfig::default()
    })
    .unwrap();
    ArmHarness {
        arm,
        provider: Arc::new(provider),
    }
}

credless_resources::conformance_tests!(harness);

fn request(kind: Kind, name: &str) -> ResourceRequest {
    ResourceRequest {
        kind,
        name: name.into(),
        region: "westeurope".into(),
        size: "small".into(),
        image: None,
        engine: (kind == Kind::Database).then(|| "postgres".into()),
        engine_version: (kind == Kind::Database).then(|| "16".into()),
        tags: BTreeMap::from([("team".into(), "web".into())]),
    }
}

#[async_trait]
impl Harness for ArmHarness {
    fn provider(&self) -> Arc<dyn ResourceProvider> {
        self.provider.clone()
    }

    fn account(&self) -> Account {
        Account::Azure(AzureAccount {
            id: "dev-azure".into(),
            display_name: None,
            allowed_groups: Vec::new(),
            tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            client_id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
            subscription_id: SUBSCRIPTION.into(),
            resource_group: GROUP.into(),
            region: "westeurope".into(),
        })
    }

    fn credentials(&self) -> Credentials {
        Credentials::Azure(AccessToken {
            token: Secret::new(TOKEN),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
            cloud_identity: "app aaaaaaaa in directory 11111111".into(),
        })
    }

    fn vm_request(&self, name: &str) -> ResourceRequest {
        request(Kind::Vm, name)
    }

    fn database_request(&self, name: &str) -> ResourceRequest {
        request(Kind::Database, name)
    }

    fn missing(&self, kind: Kind) -> ResourceId {
        let provider = match kind {
            Kind::Vm => "Microsoft.Compute/virtualMachines",
            Kind::Database => "Microsoft.DBforPostgreSQL/flexibleServers",
        };
        ResourceId {
            account: "dev-azure".into(),
            kind,
            location: "westeurope".into(),
            native_id: format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/{provider}/ghost"
            ),
        }
    }

    async fn faulty(&self, fault: Fault, operation: Operation) -> Arc<dyn ResourceProvider> {
        // Each refusal on the call where ARM makes it: a VM's quota on its own PUT, after its
        // network was made.
        let op = match operation {
            Operation::Create(Kind::Vm) => ArmOp::PutVirtualMachine,
            Operation::Create(Kind::Database) => ArmOp::PutFlexibleServer,
            Operation::List(Kind::Vm) => ArmOp::ListVirtualMachines,
            Operation::List(Kind::Database) => ArmOp::ListFlexibleServers,
            Operation::Get(Kind::Vm) => ArmOp::GetVirtualMachine,
            Operation::Get(Kind::Database) => ArmOp::GetFlexibleServer,
        };
        let failure = match fault {
            Fault::Denied => FakeArmFailure::Denied,
            Fault::Quota => FakeArmFailure::Quota,
            Fault::Throttled => FakeArmFailure::Throttle {
                retry_after: Duration::from_secs(1),
            },
        };
        self.arm.fail_next(op, failure);
        self.provider.clone()
    }
}
