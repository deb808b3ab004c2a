//! The SQLite store: the shared store suite over a fresh file per test, then what only the
//! embedded store does (in-memory databases, files, paths in errors).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

#[macro_use]
mod store_suite;

use std::error::Error as _;

use credless_registry::{Account, Oidc, RegistryError, SqliteStore, Store, Tenant};

fn tenant(id: &str, hostnames: &[&str]) -> Tenant {
    Tenant {
        id: id.to_owned(),
        admin_email: format!("ops@{id}.example"),
        hostnames: hostnames.iter().map(|h| (*h).to_owned()).collect(),
        proxy_url: format!("https://auth.{id}.example"),
        cookie_name: "_oauth2_proxy".to_owned(),
        oidc: Oidc {
            issuer: format!("https://id.{id}.example/"),
            audiences: vec!["c".into()],
        },
        admin_groups: vec![],
    }
}

fn account(id: &str, region: &str) -> Account {
    serde_json::from_value(
        serde_json::json!({"id": id, "provider": "aws", "region": region,
        "role_arn": "arn:aws:iam::123456789012:role/credless"}),
    )
    .unwrap()
}

async fn memory() -> SqliteStore {
    SqliteStore::open("sqlite::memory:").await.unwrap()
}

fn file_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("registry.db").display())
}

/// A fresh database file per test, removed with its directory.
async fn fixture() -> Option<store_suite::Fixture> {
    let dir = tempfile::tempdir().unwrap();
    Some(store_suite::Fixture::new(file_url(&dir), dir))
}

store_suite!(fixture);

#[track_caller]
fn assert_conflict(result: Result<(), RegistryError>, needle: &str) {
    match result {
        Err(RegistryError::Conflict { reason }) => assert!(reason.contains(needle), "{reason}"),
        other => panic!("expected a conflict about {needle}, got {other:?}"),
    }
}

#[tokio::test]
async fn each_memory_store_is_private() {
    let (first, second) = (memory().await, memory().await);
    first.create_tenant(&tenant("acme", &[])).await.unwrap();
    assert!(second.tenants().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_file_store_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir);
    let store = SqliteStore::open(&url).await.unwrap();
    store
        .create_tenant(&tenant("acme", &["cloud.acme.example"]))
        .await
        .unwrap();
    store
        .put_account("acme", &account("prod", "us-east-1"))
        .await
        .unwrap();
    let revision = store.revision().await.unwrap();
    store.close().await;

    let reopened = SqliteStore::open(&url).await.unwrap();
    assert_eq!(
        reopened.tenant("acme").await.unwrap(),
        Some(tenant("acme", &["cloud.acme.example"]))
    );
    assert_eq!(
        reopened.accounts("acme").await.unwrap(),
        [account("prod", "us-east-1")]
    );
    assert_eq!(reopened.revision().await.unwrap(), revision);
    assert_conflict(
        reopened
            .create_tenant(&tenant("b", &["cloud.acme.example"]))
            .await,
        "acme",
    );
}

#[tokio::test]
async fn a_database_from_a_newer_credless_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir);
    let store = SqliteStore::open(&url).await.unwrap();
    store.close().await;

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO schema_version (version) VALUES (99)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    match SqliteStore::open(&url).await {
        Err(
            err @ RegistryError::UnsupportedSchema {
                found: 99,
                supported: 2,
            },
        ) => {
            assert!(err.to_string().contains("upgrade Credless"), "{err}");
        }
        other => panic!("expected the schema to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn open_errors_name_the_path_but_never_a_password() {
    let err = SqliteStore::open("postgres://admin:hunter2@db/credless")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Invalid { ref field, .. } if field == "store.url"));
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");

    let err = SqliteStore::open("sqlite:///nonexistent-dir/sub/registry.db")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
    let cause = err.source().unwrap().to_string();
    assert!(
        cause.contains("/nonexistent-dir/sub/registry.db"),
        "{cause}"
    );
}

#[tokio::test]
async fn ping_answers_until_closed() {
    let store = memory().await;
    store.ping().await.unwrap();
    store.close().await;
    assert!(matches!(
        store.ping().await,
        Err(RegistryError::Unavailable { .. })
    ));
}
