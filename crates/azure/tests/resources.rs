//! `AzureResources` against the stateful fake Azure Resource Manager: lifecycles, the network a
//! VM needs, passwordless creation and the classification of ARM's refusals.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use credless_azure::resources::{AzureResources, AzureResourcesConfig};
use credless_exchange::{AccessToken, Credentials, Secret};
use credless_registry::{Account, AzureAccount};
use credless_resources::{
    Kind, Resource, ResourceContext, ResourceError, ResourceId, ResourceProvider, ResourceRequest,
    State,
};
use credless_testkit::arm::{ArmOp, FakeArm, FakeArmFailure};
use serde_json::json;

const SUBSCRIPTION: &str = "00000000-1111-2222-3333-444444444444";
const GROUP: &str = "dev";
const TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.arm-access-token";

struct World {
    arm: FakeArm,
    resources: AzureResources,
    account: Account,
    credentials: Credentials,
}

impl World {
    async fn start() -> Self {
        let arm = FakeArm::start().await;
        arm.require_token(TOKEN);
        let resources = AzureResources::new(&AzureResourcesConfig {
            management_endpoint: arm.management_endpoint(),
            allow_insecure_upstreams: true,
            ..AzureResourcesConfig::default()
        })
        .unwrap();
        let account = Account::Azure(AzureAccount {
            id: "dev-azure".into(),
            display_name: None,
            allowed_groups: Vec::new(),
            tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            client_id: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into(),
            subscription_id: SUBSCRIPTION.into(),
            resource_group: GROUP.into(),
            region: "westeurope".into(),
        });
        let credentials = Credentials::Azure(AccessToken {
            token: Secret::new(TOKEN),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
            cloud_identity: "app aaaaaaaa in directory 11111111".into(),
        });
        Self {
            arm,
            resources,
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

    /// Reads the resource until it reaches `state`, at most ten times; each read advances
    /// the fake, so no waiting is involved. Returns the states seen on the way.
    async fn read_until(&self, id: &ResourceId, state: State) -> Vec<State> {
        let mut seen = Vec::new();
        for _ in 0..10 {
            let resource = self.resources.get(self.cx(), id).await.unwrap();
            seen.push(resource.state);
            if resource.state == state {
                return seen;
            }
        }
        panic!("never reached {state:?}; saw {seen:?}");
    }
}

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

fn id_of(resource: &Resource) -> ResourceId {
    ResourceId::decode(&resource.id).unwrap()
}

#[tokio::test]
async fn a_vm_goes_through_its_whole_lifecycle() {
    let world = World::start().await;

    let created = world
        .resources
        .create(world.cx(), &request(Kind::Vm, "web-1"))
        .await;
    let created = created.unwrap();
    assert!(created.one_time_secret.is_none());
    let vm = created.resource;
    assert_eq!(vm.state, State::Pending);
    assert_eq!(vm.size, "Standard_B2s");
    assert_eq!(vm.tags["managed-by"], "credless");
    assert_eq!(vm.tags["team"], "web");
    let id = id_of(&vm);

    let seen = world.read_until(&id, State::Running).await;
    assert_eq!(seen.first(), Some(&State::Pending), "{seen:?}");

    let stopping = world.resources.stop(world.cx(), &id).await.unwrap();
    assert_eq!(stopping.state, State::Stopping);
    assert_eq!(world.arm.calls(ArmOp::DeallocateVirtualMachine), 1);
    world.read_until(&id, State::Stopped).await;

    let starting = world.resources.start(world.cx(), &id).await.unwrap();
    assert_eq!(starting.state, State::Pending);
    world.read_until(&id, State::Running).await;

    let deleting = world.resources.delete(world.cx(), &id).await.unwrap();
    assert_eq!(deleting.state, State::Deleting);
    let mut gone = None;
    for _ in 0..10 {
        match world.resources.get(world.cx(), &id).await {
            Ok(resource) => assert_eq!(resource.state, State::Deleting),
            Err(error) => {
                gone = Some(error);
                break;
            }
        }
    }
    assert!(
        matches!(gone, Some(ResourceError::NotFound { .. })),
        "{gone:?}"
    );
    // The NIC went with the VM, as its deleteOption asked.
    let nic = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/\
         Microsoft.Network/networkInterfaces/web-1-nic"
    );
    assert!(world.arm.resource(&nic).is_none());
}

#[tokio::test]
async fn the_network_is_created_once_and_shared_by_later_vms() {
    let world = World::start().await;

    world
        .resources
        .create(world.cx(), &request(Kind::Vm, "web-1"))
        .await
        .unwrap();
    world
        .resources
        .create(world.cx(), &request(Kind::Vm, "web-2"))
        .await
        .unwrap();

    assert_eq!(world.arm.calls(ArmOp::PutVirtualNetwork), 1);
    assert_eq!(
        world.arm.calls(ArmOp::PutSubnet),
        0,
        "the subnet came with the network"
    );
    assert_eq!(world.arm.calls(ArmOp::PutNetworkInterface), 2);
    let puts = world.arm.requests_of(ArmOp::PutVirtualMachine);
    let nics: Vec<String> = puts
        .iter()
        .map(|put| {
            put.json().unwrap()["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        nics[0].ends_with("/web-1-nic") && nics[1].ends_with("/web-2-nic"),
        "{nics:?}"
    );
    let nic_body = world.arm.requests_of(ArmOp::PutNetworkInterface)[1]
        .json()
        .unwrap();
    let subnet = &nic_body["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"];
    assert!(
        subnet
            .as_str()
            .unwrap()
            .ends_with("/virtualNetworks/credless-vnet/subnets/default")
    );

    let again = world
        .resources
        .create(world.cx(), &request(Kind::Vm, "web-1"))
        .await;
    assert!(
        matches!(again, Err(ResourceError::Conflict { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_vm_is_created_without_any_password_and_with_the_callers_token() {
    let world = World::start().await;
    let mut with_key = request(Kind::Vm, "web-1");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0dGVzdGtleWZvcmNyZWRsZXNzdGVzdHM alice";
    with_key.tags.insert("ssh-public-key".into(), key.into());
    with_key.image = Some("Debian:debian-12:12-gen2:latest".into());

    world.resources.create(world.cx(), &with_key).await.unwrap();
    world
        .resources
        .create(world.cx(), &request(Kind::Vm, "web-2"))
        .await
        .unwrap();

    let puts = world.arm.requests_of(ArmOp::PutVirtualMachine);
    assert_eq!(puts.len(), 2);
    for put in &puts {
        assert!(
            !put.body.to_ascii_lowercase().contains("password\":\""),
            "{}",
            put.body
        );
        assert!(!put.body.contains("adminPassword"), "{}", put.body);
        let body = put.json().unwrap();
        let linux = &body["properties"]["osProfile"]["linuxConfiguration"];
        assert_eq!(linux["disablePasswordAuthentication"], true);
        assert_eq!(
            put.request.header("authorization"),
            Some(&*format!("Bearer {TOKEN}"))
        );
        assert_eq!(
            body["properties"]["hardwareProfile"]["vmSize"],
            "Standard_B2s"
        );
    }
    let first = puts[0].json().unwrap();
    let keys = &first["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"];
    assert_eq!(keys[0]["keyData"], key);
    assert!(
        first["tags"].get("ssh-public-key").is_none(),
        "the key is not a tag"
    );
    assert_eq!(
        first["properties"]["storageProfile"]["imageReference"]["publisher"],
        "Debian"
    );
    let second = puts[1].json().unwrap();
    let keys = &second["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"];
    let generated = keys[0]["keyData"].as_str().unwrap();
    assert!(generated.starts_with("ssh-ed25519 ") && generated.ends_with("credless-no-access"));
    assert_eq!(
        second["properties"]["storageProfile"]["imageReference"]["offer"],
        "0001-com-ubuntu-server-jammy"
    );
}

#[tokio::test]
async fn a_database_is_entra_only_and_goes_through_its_whole_lifecycle() {
    let world = World::start().await;

    let created = world
        .resources
        .create(world.cx(), &request(Kind::Database, "orders"))
        .await;
    let created = created.unwrap();
    assert!(created.one_time_secret.is_none());
    let db = created.resource;
    assert_eq!(
        (db.state, db.size.as_str()),
        (State::Pending, "Standard_B1ms")
    );
    let put = world.arm.requests_of(ArmOp::PutFlexibleServer)[0]
        .json()
        .unwrap();
    assert_eq!(put["properties"]["authConfig"]["passwordAuth"], "Disabled");
    assert_eq!(
        put["properties"]["authConfig"]["activeDirectoryAuth"],
        "Enabled"
    );
    assert!(
        put["properties"]
            .get("administratorLoginPassword")
            .is_none()
    );
    assert_eq!(
        put["sku"],
        json!({"name": "Standard_B1ms", "tier": "Burstable"})
    );
    let id = id_of(&db);

    let seen = world.read_until(&id, State::Running).await;
    assert_eq!(seen.first(), Some(&State::Pending), "{seen:?}");
    let stopping = world.resources.stop(world.cx(), &id).await.unwrap();
    assert_eq!(stopping.state, State::Stopping);
    world.read_until(&id, State::Stopped).await;
    let starting = world.resources.start(world.cx(), &id).await.unwrap();
    assert_eq!(starting.state, State::Pending);
    world.read_until(&id, State::Running).await;

    let deleting = world.resources.delete(world.cx(), &id).await.unwrap();
    assert_eq!(deleting.state, State::Deleting);
    let mut last = Ok(deleting);
    for _ in 0..10 {
        last = world.resources.get(world.cx(), &id).await;
        if last.is_err() {
            break;
        }
    }
    assert!(
        matches!(last, Err(ResourceError::NotFound { .. })),
        "{last:?}"
    );
    let again = world.resources.delete(world.cx(), &id).await.unwrap();
    assert_eq!(
        again.state,
        State::Deleted,
        "a second delete finds nothing to delete"
    );
}

#[tokio::test]
async fn lists_show_only_credless_resources_when_asked() {
    let world = World::start().await;
    world
        .arm
        .seed_virtual_machine(SUBSCRIPTION, GROUP, "legacy", "westeurope", json!({}));
    world
        .arm
        .seed_flexible_server(SUBSCRIPTION, GROUP, "old-db", "westeurope", json!({}));
    world.arm.seed_virtual_machine(
        SUBSCRIPTION,
        "other-group",
        "elsewhere",
        "westeurope",
        json!({"managed-by": "credless"}),
    );
    world
        .resources
        .create(world.cx(), &request(Kind::Vm, "web-1"))
        .await
        .unwrap();
    world
        .resources
        .create(world.cx(), &request(Kind::Database, "orders"))
        .await
        .unwrap();

    let names = |resources: Vec<Resource>| -> Vec<String> {
        resources.into_iter().map(|r| r.name).collect()
    };
    let all = world
        .resources
        .list(world.cx(), Kind::Vm, false)
        .await
        .unwrap();
    let legacy = all.iter().find(|r| r.name == "legacy").unwrap();
    assert_eq!(legacy.state, State::Running, "from the instance view");
    assert_eq!(names(all), ["legacy", "web-1"]);
    let managed = world
        .resources
        .list(world.cx(), Kind::Vm, true)
        .await
        .unwrap();
    assert_eq!(names(managed), ["web-1"]);
    let databases = world
        .resources
        .list(world.cx(), Kind::Database, true)
        .await
        .unwrap();
    assert_eq!(names(databases), ["orders"]);
}

#[tokio::test]
async fn arm_refusals_keep_their_meaning() {
    let world = World::start().await;
    let vm = request(Kind::Vm, "web-1");

    world
        .arm
        .fail_next(ArmOp::PutVirtualMachine, FakeArmFailure::Denied);
    let denied = world.resources.create(world.cx(), &vm).await.unwrap_err();
    assert!(
        matches!(denied, ResourceError::Denied { ref cloud_code, .. }
        if cloud_code == "AuthorizationFailed"),
        "{denied:?}"
    );

    world
        .arm
        .fail_next(ArmOp::PutVirtualMachine, FakeArmFailure::Quota);
    let quota = world.resources.create(world.cx(), &vm).await.unwrap_err();
    assert!(matches!(quota, ResourceError::Quota { .. }), "{quota:?}");

    let retry_after = Duration::from_secs(17);
    world.arm.fail_next(
        ArmOp::ListVirtualMachines,
        FakeArmFailure::Throttle { retry_after },
    );
    let throttled = world
        .resources
        .list(world.cx(), Kind::Vm, true)
        .await
        .unwrap_err();
    assert!(
        matches!(throttled, ResourceError::Throttled { retry_after: Some(wait), .. }
        if wait == retry_after),
        "{throttled:?}"
    );

    world
        .arm
        .fail_next(ArmOp::GetVirtualMachine, FakeArmFailure::ServerError);
    let created = world.resources.create(world.cx(), &vm).await;
    assert!(
        matches!(created, Err(ResourceError::Unavailable { .. })),
        "{created:?}"
    );

    let missing = ResourceId {
        account: "dev-azure".into(),
        kind: Kind::Vm,
        location: "westeurope".into(),
        native_id: format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/\
             Microsoft.Compute/virtualMachines/nobody"
        ),
    };
    let not_found = world
        .resources
        .start(world.cx(), &missing)
        .await
        .unwrap_err();
    assert!(
        matches!(not_found, ResourceError::NotFound { .. }),
        "{not_found:?}"
    );
    // An id pointing outside the account's resource group is not even asked about.
    let calls = world.arm.requests().len();
    let foreign = ResourceId {
        native_id: missing.native_id.replace("/dev/", "/prod/"),
        ..missing
    };
    let refused = world.resources.get(world.cx(), &foreign).await.unwrap_err();
    assert!(matches!(refused, ResourceError::NotFound { .. }));
    assert_eq!(world.arm.requests().len(), calls);

    let bad_image = ResourceRequest {
        image: Some("ubuntu".into()),
        ..request(Kind::Vm, "web-2")
    };
    let invalid = world
        .resources
        .create(world.cx(), &bad_image)
        .await
        .unwrap_err();
    assert!(matches!(invalid, ResourceError::Invalid { ref field, .. } if field == "image"));
}

#[tokio::test]
async fn a_rejected_token_is_denied_and_never_printed() {
    let world = World::start().await;
    world.arm.require_token("another-token");

    let error = world
        .resources
        .list(world.cx(), Kind::Vm, false)
        .await
        .unwrap_err();

    assert!(
        matches!(error, ResourceError::Denied { ref cloud_code, .. }
        if cloud_code == "InvalidAuthenticationToken"),
        "{error:?}"
    );
    let printed = format!(
        "{error:?} {error} {:?} {:?}",
        world.resources,
        world.arm.requests()
    );
    assert!(!printed.contains("arm-access-token"), "{printed}");
}
