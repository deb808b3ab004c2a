//! `GcpResources` against the stateful Compute Engine and Cloud SQL fake: lifecycles, listing,
//! zones and the request bodies Google receives.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use credless_exchange::{AccessToken, Credentials, Secret};
use credless_gcp::resources::{GcpResources, ResourcesConfig};
use credless_registry::{Account, GcpAccount};
use credless_resources::{
    Kind, Resource, ResourceContext, ResourceError, ResourceId, ResourceProvider, ResourceRequest,
    State,
};
use credless_testkit::gce::{FakeGce, GceCall};
use serde_json::Value;

const PROJECT: &str = "acme-data";
const TOKEN: &str = "ya29.c.EXAMPLE-ACCESS-TOKEN";

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

    async fn create(&self, request: &ResourceRequest) -> Resource {
        self.provider
            .create(self.cx(), request)
            .await
            .unwrap()
            .resource
    }

    /// Reads the resource until it reaches `wanted`, at most ten reads; returns every state seen.
    async fn read_until(&self, resource: &Resource, wanted: State) -> Vec<State> {
        let id = ResourceId::decode(&resource.id).unwrap();
        let mut seen = Vec::new();
        for _ in 0..10 {
            let state = self.provider.get(self.cx(), &id).await.unwrap().state;
            seen.push(state);
            if state == wanted {
                return seen;
            }
        }
        panic!("never reached {wanted:?}: {seen:?}");
    }

    /// The body of the last request of `call`.
    fn last_body(&self, call: GceCall) -> Value {
        let requests = self.gce.requests();
        let last = requests
            .iter()
            .rev()
            .find(|r| r.call == Some(call))
            .unwrap();
        last.json().unwrap()
    }
}

fn request(kind: Kind, name: &str, region: &str) -> ResourceRequest {
    ResourceRequest {
        kind,
        name: name.into(),
        region: region.into(),
        size: "small".into(),
        image: None,
        engine: (kind == Kind::Database).then(|| "postgres".into()),
        engine_version: None,
        tags: BTreeMap::from([("Team".into(), "Data Platform".into())]),
    }
}

fn id_of(resource: &Resource) -> ResourceId {
    ResourceId::decode(&resource.id).unwrap()
}

#[tokio::test]
async fn a_vm_is_created_started_stopped_and_deleted_without_waiting() {
    let world = World::start().await;

    let vm = world
        .create(&request(Kind::Vm, "web-1", "europe-west1"))
        .await;
    assert_eq!(vm.state, State::Pending);
    assert_eq!(
        (vm.region.as_str(), vm.size.as_str()),
        ("europe-west1-b", "e2-small")
    );
    assert_eq!(vm.tags["managed-by"], "credless");
    let seen = world.read_until(&vm, State::Running).await;
    assert_eq!(seen, [State::Pending, State::Pending, State::Running]);

    let stopping = world.provider.stop(world.cx(), &id_of(&vm)).await.unwrap();
    assert_eq!(stopping.state, State::Stopping);
    assert_eq!(
        world.read_until(&vm, State::Stopped).await.last(),
        Some(&State::Stopped)
    );

    let starting = world.provider.start(world.cx(), &id_of(&vm)).await.unwrap();
    assert_eq!(starting.state, State::Pending);
    assert_eq!(
        world.read_until(&vm, State::Running).await.first(),
        Some(&State::Pending)
    );

    let deleting = world
        .provider
        .delete(world.cx(), &id_of(&vm))
        .await
        .unwrap();
    assert_eq!(deleting.state, State::Deleting);
    let mut gone = None;
    for _ in 0..10 {
        if let Err(error) = world.provider.get(world.cx(), &id_of(&vm)).await {
            gone = Some(error);
            break;
        }
    }
    assert!(
        matches!(gone, Some(ResourceError::NotFound { .. })),
        "{gone:?}"
    );
    assert_eq!(
        world.gce.vm_status(PROJECT, "europe-west1-b", "web-1"),
        None
    );
}

#[tokio::test]
async fn the_vm_request_names_machine_image_network_labels_and_bearer() {
    let world = World::start().await;

    world
        .create(&request(Kind::Vm, "web-1", "europe-west1"))
        .await;

    let body = world.last_body(GceCall::ComputeInsert);
    assert_eq!(
        body["machineType"],
        "zones/europe-west1-b/machineTypes/e2-small"
    );
    let disk = &body["disks"][0];
    assert_eq!(disk["boot"], true);
    let image = "projects/debian-cloud/global/images/family/debian-12";
    assert_eq!(disk["initializeParams"]["sourceImage"], image);
    assert_eq!(
        body["networkInterfaces"][0]["network"],
        "global/networks/default"
    );
    assert_eq!(body["labels"]["team"], "data_platform");
    assert_eq!(body["labels"]["managed-by"], "credless");
    let requests = world.gce.requests();
    let insert = &requests[0].request;
    assert_eq!(
        insert.path,
        "/compute/v1/projects/acme-data/zones/europe-west1-b/instances"
    );
    assert_eq!(
        insert.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn a_region_takes_its_b_zone_and_a_zone_is_used_as_given() {
    let world = World::start().await;

    let in_region = world.create(&request(Kind::Vm, "a", "us-east1")).await;
    let in_zone = world.create(&request(Kind::Vm, "b", "us-central1-f")).await;

    assert_eq!(in_region.region, "us-east1-b");
    assert_eq!(id_of(&in_region).location, "us-east1-b");
    assert_eq!(in_zone.region, "us-central1-f");
    assert!(world.gce.vm_status(PROJECT, "us-east1-b", "a").is_some());
    assert!(world.gce.vm_status(PROJECT, "us-central1-f", "b").is_some());
}

#[tokio::test]
async fn a_database_goes_through_its_lifecycle_with_iam_sign_in_and_no_password() {
    let world = World::start().await;

    let db = world
        .create(&request(Kind::Database, "orders", "europe-west1"))
        .await;
    assert_eq!(db.state, State::Pending);
    assert_eq!(
        (db.region.as_str(), db.size.as_str()),
        ("europe-west1", "db-custom-1-3840")
    );

    let body = world.last_body(GceCall::SqlInsert);
    assert_eq!(body["databaseVersion"], "POSTGRES_16");
    assert_eq!(body["settings"]["tier"], "db-custom-1-3840");
    let flags = body["settings"]["databaseFlags"].as_array().unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f["name"] == "cloudsql.iam_authentication" && f["value"] == "on")
    );
    let raw = String::from_utf8(world.gce.requests()[0].body.clone()).unwrap();
    assert!(!raw.to_lowercase().contains("password"), "{raw}");

    assert_eq!(
        world.read_until(&db, State::Running).await,
        [State::Pending, State::Running]
    );
    let running = world.provider.get(world.cx(), &id_of(&db)).await.unwrap();
    assert_eq!(running.details["iamAuthentication"], true);

    let stopping = world.provider.stop(world.cx(), &id_of(&db)).await.unwrap();
    assert_eq!(stopping.state, State::Stopping);
    assert_eq!(
        world.last_body(GceCall::SqlPatch)["settings"]["activationPolicy"],
        "NEVER"
    );
    world.read_until(&db, State::Stopped).await;

    let starting = world.provider.start(world.cx(), &id_of(&db)).await.unwrap();
    assert_eq!(starting.state, State::Pending);
    assert_eq!(
        world.last_body(GceCall::SqlPatch)["settings"]["activationPolicy"],
        "ALWAYS"
    );
    world.read_until(&db, State::Running).await;

    let deleting = world
        .provider
        .delete(world.cx(), &id_of(&db))
        .await
        .unwrap();
    assert_eq!(deleting.state, State::Deleting);
    assert_eq!(
        world.read_until(&db, State::Deleting).await,
        [State::Deleting]
    );
    let gone = world
        .provider
        .get(world.cx(), &id_of(&db))
        .await
        .unwrap_err();
    assert!(matches!(gone, ResourceError::NotFound { .. }), "{gone:?}");
}

#[tokio::test]
async fn listing_managed_only_asks_google_for_the_credless_label() {
    let world = World::start().await;
    world
        .gce
        .put_vm(PROJECT, "us-central1-a", "legacy", &[("team", "ops")]);
    world
        .gce
        .put_database(PROJECT, "us-central1", "legacy-db", &[]);
    world
        .create(&request(Kind::Vm, "web-1", "europe-west1"))
        .await;
    world
        .create(&request(Kind::Database, "orders", "europe-west1"))
        .await;

    let managed = world
        .provider
        .list(world.cx(), Kind::Vm, true)
        .await
        .unwrap();
    let all = world
        .provider
        .list(world.cx(), Kind::Vm, false)
        .await
        .unwrap();
    let managed_dbs = world
        .provider
        .list(world.cx(), Kind::Database, true)
        .await
        .unwrap();
    let all_dbs = world
        .provider
        .list(world.cx(), Kind::Database, false)
        .await
        .unwrap();

    let names = |list: &[Resource]| {
        let mut names: Vec<String> = list.iter().map(|r| r.name.clone()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&managed), ["web-1"]);
    assert_eq!(names(&all), ["legacy", "web-1"]);
    assert_eq!(names(&managed_dbs), ["orders"]);
    assert_eq!(names(&all_dbs), ["legacy-db", "orders"]);
    let queries: Vec<Option<String>> = world
        .gce
        .requests()
        .iter()
        .filter(|r| {
            matches!(
                r.call,
                Some(GceCall::ComputeAggregatedList | GceCall::SqlList)
            )
        })
        .map(|r| r.request.query.clone())
        .collect();
    assert_eq!(
        queries,
        [
            Some("filter=labels.managed-by%3Dcredless".to_owned()),
            None,
            Some("filter=settings.userLabels.managed-by%3Acredless".to_owned()),
            None,
        ]
    );
    assert_eq!(
        managed[0].id,
        world
            .provider
            .get(world.cx(), &id_of(&managed[0]))
            .await
            .unwrap()
            .id
    );
}
