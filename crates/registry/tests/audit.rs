//! The audit log as the gateway writes and reads it.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use credless_registry::audit::action;
use credless_registry::{
    Account, AuditEvent, Oidc, Outcome, Policy, Registry, RegistryError, SqliteStore, Store, Tenant,
};
use credless_testkit::LogBuffer;

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.to_owned(),
        admin_email: format!("ops@{id}.example"),
        hostnames: vec![format!("cloud.{id}.example")],
        proxy_url: format!("https://auth.{id}.example"),
        cookie_name: "_oauth2_proxy".to_owned(),
        oidc: Oidc {
            issuer: format!("https://id.{id}.example/"),
            audiences: vec!["c".into()],
        },
        admin_groups: vec![],
    }
}

fn account(id: &str) -> Account {
    serde_json::from_value(serde_json::json!({"id": id, "provider": "aws",
        "region": "eu-west-1", "role_arn": "arn:aws:iam::123456789012:role/credless"}))
    .unwrap()
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
}

fn event(tenant: &str, request: &str, seconds: u64) -> AuditEvent {
    AuditEvent::new(
        tenant,
        request,
        "alice",
        action::RESOURCE_START,
        Outcome::Success,
    )
    .with_email(Some("alice@acme.example"))
    .with_account("prod")
    .with_resource("vm-1")
    .with_detail("started")
    .with_time(at(seconds))
}

fn requests(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.request_id.as_str()).collect()
}

async fn registry(store: SqliteStore) -> Registry {
    let policy = Policy {
        public_base_domain: "credless.example.com".to_owned(),
        ..Policy::default()
    };
    Registry::open(Arc::new(store), policy).await.unwrap()
}

#[tokio::test]
async fn events_come_back_whole_newest_first_up_to_the_limit() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    for (request, seconds) in [("r2", 2), ("r4", 4), ("r1", 1), ("r3", 3)] {
        store
            .record_audit(&event("acme", request, seconds))
            .await
            .unwrap();
    }
    // Same millisecond: the later write is the newer event.
    store
        .record_audit(&event("acme", "r4-bis", 4))
        .await
        .unwrap();
    store
        .record_audit(&event("other", "theirs", 9))
        .await
        .unwrap();

    let newest = store.audit("acme", 3).await.unwrap();
    assert_eq!(requests(&newest), ["r4-bis", "r4", "r3"]);
    assert_eq!(newest[1], event("acme", "r4", 4), "every field round-trips");

    let all = store.audit("acme", 100).await.unwrap();
    assert_eq!(requests(&all), ["r4-bis", "r4", "r3", "r2", "r1"]);
    assert!(store.audit("nobody", 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_limit_is_capped_at_a_thousand() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    for n in 0..1001 {
        store
            .record_audit(&event("acme", &format!("r{n}"), n))
            .await
            .unwrap();
    }
    let events = registry(store).await.audit("acme", u32::MAX).await.unwrap();
    assert_eq!(events.len(), 1000);
    assert_eq!(events[0].request_id, "r1000");
}

#[tokio::test]
async fn the_log_outlives_the_account_and_the_tenant() {
    let registry = registry(SqliteStore::open("sqlite::memory:").await.unwrap()).await;
    registry.create_tenant(tenant("acme")).await.unwrap();
    registry
        .put_account("acme", "prod", account("prod"))
        .await
        .unwrap();
    let revision = registry.store().revision().await.unwrap();

    let deleted = AuditEvent::new(
        "acme",
        "r1",
        "alice",
        action::ACCOUNT_DELETE,
        Outcome::Success,
    )
    .with_account("prod");
    registry.record_audit(&deleted).await.unwrap();
    assert_eq!(
        registry.store().revision().await.unwrap(),
        revision,
        "audit writes do not make other processes reload tenants"
    );
    registry.delete_account("acme", "prod").await.unwrap();
    registry.delete_tenant("acme").await.unwrap();

    let events = registry.audit("acme", 100).await.unwrap();
    assert_eq!(events, [deleted]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_one_file_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let handles = [
        SqliteStore::open(&url).await.unwrap(),
        SqliteStore::open(&url).await.unwrap(),
    ];

    let mut writers = Vec::new();
    for (writer, store) in handles.iter().enumerate() {
        for n in 0..25 {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                let request = format!("w{writer}-{n}");
                store.record_audit(&event("acme", &request, n)).await
            }));
        }
    }
    for writer in writers {
        writer.await.unwrap().unwrap();
    }

    let mut seen = requests(&handles[0].audit("acme", 1000).await.unwrap())
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 50);
}

#[tokio::test]
async fn a_failed_write_is_reported() {
    let store = SqliteStore::open("sqlite::memory:").await.unwrap();
    store.close().await;
    let err = store
        .record_audit(&event("acme", "r1", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
}

#[test]
fn the_log_line_has_structured_fields_and_no_secret() {
    let captured = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(captured.clone())
        .finish();
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";
    let denied = AuditEvent::new(
        "acme",
        "r1",
        "alice",
        action::RESOURCE_CREATE,
        Outcome::Denied,
    )
    .with_account("prod")
    .with_detail(&format!("token {jwt} not in allowed_groups"));
    tracing::subscriber::with_default(subscriber, || denied.log());

    let line = captured.contents();
    let record: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(record["level"], "INFO");
    assert_eq!(record["target"], "credless::audit");
    let fields = &record["fields"];
    assert_eq!(fields["tenant.id"], "acme");
    assert_eq!(fields["request.id"], "r1");
    assert_eq!(fields["account.id"], "prod");
    assert_eq!(fields["action"], "resource.create");
    assert_eq!(fields["outcome"], "denied");
    assert!(fields.get("resource.id").is_none(), "{line}");
    assert!(!line.contains(jwt), "{line}");
}
