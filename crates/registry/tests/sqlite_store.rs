//! The SQLite store, through the `Store` trait as every backend will be used.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::error::Error as _;

use credless_registry::{Account, Oidc, Put, RegistryError, SqliteStore, Store, Tenant};

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

#[track_caller]
fn assert_conflict(result: Result<(), RegistryError>, needle: &str) {
    match result {
        Err(RegistryError::Conflict { reason }) => assert!(reason.contains(needle), "{reason}"),
        other => panic!("expected a conflict about {needle}, got {other:?}"),
    }
}

#[tokio::test]
async fn tenants_round_trip_sorted_by_id() {
    let store = memory().await;
    store
        .create_tenant(&tenant("zeta", &["z.example"]))
        .await
        .unwrap();
    store
        .create_tenant(&tenant("acme", &["cloud.acme.example", "b.acme.example"]))
        .await
        .unwrap();

    assert_eq!(
        store.tenant("acme").await.unwrap(),
        Some(tenant("acme", &["cloud.acme.example", "b.acme.example"]))
    );
    assert_eq!(store.tenant("nobody").await.unwrap(), None);
    let ids: Vec<String> = store
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["acme", "zeta"]);
}

#[tokio::test]
async fn each_memory_store_is_private() {
    let (first, second) = (memory().await, memory().await);
    first.create_tenant(&tenant("acme", &[])).await.unwrap();
    assert!(second.tenants().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_taken_id_is_a_conflict() {
    let store = memory().await;
    store.create_tenant(&tenant("acme", &[])).await.unwrap();
    assert_conflict(
        store
            .create_tenant(&tenant("acme", &["other.example"]))
            .await,
        "`acme`",
    );
    assert_eq!(
        store.tenant("acme").await.unwrap().unwrap().hostnames,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_failed_create_leaves_nothing_behind() {
    let store = memory().await;
    store
        .create_tenant(&tenant("a", &["taken.example"]))
        .await
        .unwrap();
    let before = store.revision().await.unwrap();

    let clash = tenant("b", &["free.example", "taken.example"]);
    assert_conflict(
        store.create_tenant(&clash).await,
        "`taken.example` is taken by tenant `a`",
    );

    assert_eq!(store.tenant("b").await.unwrap(), None);
    assert_eq!(
        store.revision().await.unwrap(),
        before,
        "no write, no new revision"
    );
    // `free.example` was inserted before the clash and must have been rolled back.
    store
        .create_tenant(&tenant("c", &["free.example"]))
        .await
        .unwrap();
}

#[tokio::test]
async fn replace_moves_hostnames_and_refuses_those_of_others() {
    let store = memory().await;
    store
        .create_tenant(&tenant("a", &["old.a.example"]))
        .await
        .unwrap();
    store
        .create_tenant(&tenant("b", &["b.example"]))
        .await
        .unwrap();

    assert_conflict(
        store.replace_tenant(&tenant("a", &["b.example"])).await,
        "tenant `b`",
    );
    assert_eq!(
        store.tenant("a").await.unwrap().unwrap().hostnames,
        ["old.a.example"]
    );

    store
        .replace_tenant(&tenant("a", &["new.a.example"]))
        .await
        .unwrap();
    store
        .replace_tenant(&tenant("b", &["b.example", "old.a.example"]))
        .await
        .unwrap();
    assert_eq!(
        store.tenant("a").await.unwrap().unwrap().hostnames,
        ["new.a.example"]
    );
}

#[tokio::test]
async fn replace_and_delete_of_an_absent_tenant_are_not_found() {
    let store = memory().await;
    let not_found = |result: Result<(), RegistryError>| match result {
        Err(RegistryError::NotFound { kind, id }) => kind == "tenant" && id == "ghost",
        _ => false,
    };
    assert!(not_found(store.replace_tenant(&tenant("ghost", &[])).await));
    assert!(not_found(store.delete_tenant("ghost").await));
    assert_eq!(store.revision().await.unwrap(), 0);
}

#[tokio::test]
async fn accounts_are_created_replaced_and_deleted() {
    let store = memory().await;
    store.create_tenant(&tenant("acme", &[])).await.unwrap();

    assert_eq!(
        store
            .put_account("acme", &account("prod", "us-east-1"))
            .await
            .unwrap(),
        Put::Created
    );
    assert_eq!(
        store
            .put_account("acme", &account("dev", "us-east-1"))
            .await
            .unwrap(),
        Put::Created
    );
    assert_eq!(
        store
            .put_account("acme", &account("prod", "eu-west-1"))
            .await
            .unwrap(),
        Put::Replaced
    );

    let listed = store.accounts("acme").await.unwrap();
    let ids: Vec<&str> = listed.iter().map(Account::id).collect();
    assert_eq!(ids, ["dev", "prod"]);
    assert_eq!(
        store
            .account("acme", "prod")
            .await
            .unwrap()
            .unwrap()
            .region(),
        "eu-west-1"
    );

    store.delete_account("acme", "dev").await.unwrap();
    assert_eq!(store.account("acme", "dev").await.unwrap(), None);
    let again = store.delete_account("acme", "dev").await;
    assert!(
        matches!(
            again,
            Err(RegistryError::NotFound {
                kind: "account",
                ..
            })
        ),
        "{again:?}"
    );
}

#[tokio::test]
async fn accounts_need_their_tenant_and_go_with_it() {
    let store = memory().await;
    let orphan = store
        .put_account("ghost", &account("prod", "us-east-1"))
        .await;
    assert!(
        matches!(orphan, Err(RegistryError::NotFound { kind: "tenant", .. })),
        "{orphan:?}"
    );
    assert!(matches!(
        store.accounts("ghost").await,
        Err(RegistryError::NotFound { .. })
    ));

    store
        .create_tenant(&tenant("acme", &["cloud.acme.example"]))
        .await
        .unwrap();
    store
        .put_account("acme", &account("prod", "us-east-1"))
        .await
        .unwrap();
    store.delete_tenant("acme").await.unwrap();

    assert_eq!(store.account("acme", "prod").await.unwrap(), None);
    store
        .create_tenant(&tenant("acme", &["cloud.acme.example"]))
        .await
        .unwrap();
    assert!(
        store.accounts("acme").await.unwrap().is_empty(),
        "accounts were deleted too"
    );
}

#[tokio::test]
async fn every_write_bumps_the_revision() {
    let store = memory().await;
    let mut last = store.revision().await.unwrap();
    let mut expect_bump = async |store: &SqliteStore| {
        let now = store.revision().await.unwrap();
        assert!(now > last, "revision {now} after {last}");
        last = now;
    };
    store.create_tenant(&tenant("acme", &[])).await.unwrap();
    expect_bump(&store).await;
    store
        .replace_tenant(&tenant("acme", &["x.example"]))
        .await
        .unwrap();
    expect_bump(&store).await;
    store
        .put_account("acme", &account("prod", "us-east-1"))
        .await
        .unwrap();
    expect_bump(&store).await;
    store.delete_account("acme", "prod").await.unwrap();
    expect_bump(&store).await;
    store.delete_tenant("acme").await.unwrap();
    expect_bump(&store).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_id_from_two_handles() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(&dir);
    let (first, second) = (
        SqliteStore::open(&url).await.unwrap(),
        SqliteStore::open(&url).await.unwrap(),
    );

    let one = tenant("acme", &["one.example"]);
    let two = tenant("acme", &["two.example"]);
    let (a, b) = tokio::join!(
        tokio::spawn(async move { first.create_tenant(&one).await }),
        tokio::spawn(async move { second.create_tenant(&two).await }),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|r| r.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    let conflicts = outcomes
        .iter()
        .filter(|r| matches!(r, Err(RegistryError::Conflict { .. })));
    assert_eq!(conflicts.count(), 1, "{outcomes:?}");
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
