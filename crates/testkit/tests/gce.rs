//! The Compute Engine and Cloud SQL fake checks requests as Google does and moves instances
//! through their states as they are read.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use credless_testkit::gce::{FakeGce, GceCall, GceFailure};
use serde_json::{Value, json};

const IMAGE: &str = "projects/debian-cloud/global/images/family/debian-12";
const ZONE_URL: &str = "compute/v1/projects/p/zones/us-central1-b/instances";

async fn call(
    gce: &FakeGce,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/{path}", gce.uri()))
        .bearer_auth("x");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn vm(name: &str, machine_type: &str) -> Value {
    json!({
        "name": name,
        "machineType": format!("zones/us-central1-b/machineTypes/{machine_type}"),
        "disks": [{"boot": true, "initializeParams": {"sourceImage": IMAGE}}],
        "networkInterfaces": [{"network": "global/networks/default"}],
        "labels": {"managed-by": "credless"},
    })
}

#[tokio::test]
async fn requests_without_a_bearer_token_are_unauthenticated() {
    let gce = FakeGce::start().await;

    let response = reqwest::get(format!("{}/v1/projects/p/instances", gce.uri()))
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(gce.calls(GceCall::SqlList), 1);
}

#[tokio::test]
async fn an_insert_answers_an_operation_and_the_vm_advances_as_it_is_read() {
    let gce = FakeGce::start().await;
    gce.set_gets_per_step(2);

    let (status, op) = call(
        &gce,
        reqwest::Method::POST,
        ZONE_URL,
        Some(vm("web", "e2-small")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(op["kind"], "compute#operation");
    assert_eq!(op["operationType"], "insert");

    let mut seen = Vec::new();
    for _ in 0..5 {
        let (_, instance) =
            call(&gce, reqwest::Method::GET, &format!("{ZONE_URL}/web"), None).await;
        seen.push(instance["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        seen,
        [
            "PROVISIONING",
            "PROVISIONING",
            "STAGING",
            "STAGING",
            "RUNNING"
        ]
    );
    let (_, instance) = call(&gce, reqwest::Method::GET, &format!("{ZONE_URL}/web"), None).await;
    assert!(
        instance["machineType"]
            .as_str()
            .unwrap()
            .ends_with("/machineTypes/e2-small")
    );
    assert!(
        instance["selfLink"]
            .as_str()
            .unwrap()
            .ends_with("/zones/us-central1-b/instances/web")
    );
}

#[tokio::test]
async fn bad_vm_requests_are_refused_as_google_refuses_them() {
    let gce = FakeGce::start().await;
    let mut bad_labels = vm("web", "e2-small");
    bad_labels["labels"] = json!({"Team": "Ops"});
    let mut no_disk = vm("web", "e2-small");
    no_disk["disks"] = json!([]);

    for body in [
        vm("Web_1", "e2-small"),
        vm("web", "n9-giant"),
        bad_labels,
        no_disk,
    ] {
        let (status, error) = call(&gce, reqwest::Method::POST, ZONE_URL, Some(body)).await;
        assert_eq!(status, 400);
        assert_eq!(error["error"]["errors"][0]["reason"], "invalid");
    }
    call(
        &gce,
        reqwest::Method::POST,
        ZONE_URL,
        Some(vm("web", "e2-small")),
    )
    .await;
    let (status, error) = call(
        &gce,
        reqwest::Method::POST,
        ZONE_URL,
        Some(vm("web", "e2-small")),
    )
    .await;
    assert_eq!(
        (status, &error["error"]["errors"][0]["reason"]),
        (409, &json!("alreadyExists"))
    );
}

#[tokio::test]
async fn cloud_sql_checks_tier_against_edition_and_stops_through_the_activation_policy() {
    let gce = FakeGce::start().await;
    let database = |edition: Option<&str>| {
        let mut body = json!({"name": "orders", "databaseVersion": "POSTGRES_16",
            "region": "europe-west1", "settings": {"tier": "db-custom-1-3840"}});
        if let Some(edition) = edition {
            body["settings"]["edition"] = json!(edition);
        }
        body
    };
    let instances = "v1/projects/p/instances";

    let (status, error) = call(&gce, reqwest::Method::POST, instances, Some(database(None))).await;
    assert_eq!(
        status, 400,
        "POSTGRES_16 defaults to Enterprise Plus: {error}"
    );
    let (status, op) = call(
        &gce,
        reqwest::Method::POST,
        instances,
        Some(database(Some("ENTERPRISE"))),
    )
    .await;
    assert_eq!((status, &op["kind"]), (200, &json!("sql#operation")));
    assert_eq!(
        gce.database_state("p", "orders").unwrap().0,
        "PENDING_CREATE"
    );

    let one = format!("{instances}/orders");
    let stop = json!({"settings": {"activationPolicy": "NEVER"}});
    let (status, _) = call(&gce, reqwest::Method::PATCH, &one, Some(stop.clone())).await;
    assert_eq!(status, 409, "busy while being created");
    call(&gce, reqwest::Method::GET, &one, None).await;
    let (status, _) = call(&gce, reqwest::Method::PATCH, &one, Some(stop)).await;
    assert_eq!(status, 200);
    call(&gce, reqwest::Method::GET, &one, None).await;
    let (_, stopped) = call(&gce, reqwest::Method::GET, &one, None).await;
    assert_eq!(
        (&stopped["state"], &stopped["settings"]["activationPolicy"]),
        (&json!("RUNNABLE"), &json!("NEVER"))
    );
}

#[tokio::test]
async fn injected_failures_answer_once_with_googles_shapes() {
    let gce = FakeGce::start().await;
    gce.fail_next(GceCall::ComputeAggregatedList, GceFailure::Throttle);
    gce.fail_next(GceCall::ComputeAggregatedList, GceFailure::Denied);
    let list = "compute/v1/projects/p/aggregated/instances";

    let response = reqwest::Client::new()
        .get(format!("{}/{list}", gce.uri()))
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    let (denied, error) = call(&gce, reqwest::Method::GET, list, None).await;
    assert_eq!(
        (denied, &error["error"]["errors"][0]["reason"]),
        (403, &json!("forbidden"))
    );
    let (ok, page) = call(&gce, reqwest::Method::GET, list, None).await;
    assert_eq!(
        (ok, &page["kind"]),
        (200, &json!("compute#instanceAggregatedList"))
    );
    assert_eq!(gce.calls(GceCall::ComputeAggregatedList), 3);
}

#[tokio::test]
async fn operations_stay_pending_until_their_change_settles_then_list_as_done() {
    let gce = FakeGce::start().await;
    let get = reqwest::Method::GET;
    let ops = "compute/v1/projects/p/zones/us-central1-b/operations";
    let pending = format!("{ops}?filter=status%20!%3D%20DONE");
    gce.put_vm("p", "us-central1-b", "web", &[]);

    let (_, op) = call(
        &gce,
        reqwest::Method::DELETE,
        &format!("{ZONE_URL}/web"),
        None,
    )
    .await;
    let (status, list) = call(&gce, get.clone(), &pending, None).await;
    assert_eq!(
        (status, &list["kind"]),
        (200, &json!("compute#operationList"))
    );
    assert_eq!(list["items"][0]["name"], op["name"]);
    assert_eq!(list["items"][0]["status"], "RUNNING");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (status, instance) = call(&gce, get.clone(), &format!("{ZONE_URL}/web"), None).await;
        seen.push((
            status,
            instance["status"].as_str().unwrap_or("gone").to_owned(),
        ));
    }
    let seen: Vec<_> = seen.iter().map(|(s, v)| (*s, v.as_str())).collect();
    assert_eq!(
        seen,
        [(200, "STOPPING"), (200, "TERMINATED"), (404, "gone")]
    );
    let (_, list) = call(&gce, get.clone(), &pending, None).await;
    assert!(list.get("items").is_none(), "{list}");
    let (_, all) = call(&gce, get.clone(), ops, None).await;
    assert_eq!(all["items"][0]["status"], "DONE");
    let (status, _) = call(&gce, get.clone(), &format!("{ops}?filter=name%3Dx"), None).await;
    assert_eq!(status, 400, "only status filters are understood");

    gce.put_database("p", "europe-west1", "orders", &[]);
    let one = "v1/projects/p/instances/orders";
    let stop = json!({"settings": {"activationPolicy": "NEVER"}});
    let (_, op) = call(&gce, reqwest::Method::PATCH, one, Some(stop)).await;
    let sql_ops = "v1/projects/p/operations?instance=orders";
    let (_, list) = call(&gce, get.clone(), sql_ops, None).await;
    assert_eq!(list["kind"], "sql#operationsList");
    assert_eq!(
        (&list["items"][0]["name"], &list["items"][0]["status"]),
        (&op["name"], &json!("PENDING"))
    );
    let (_, old) = call(&gce, get.clone(), one, None).await;
    assert_eq!(old["settings"]["activationPolicy"], "ALWAYS");
    let (_, list) = call(&gce, get.clone(), sql_ops, None).await;
    assert_eq!(list["items"][0]["status"], "DONE");
    let (_, none) = call(&gce, get, "v1/projects/p/operations?instance=other", None).await;
    assert!(none.get("items").is_none(), "{none}");
}
