//! The PostgreSQL store: the shared store suite over a fresh database per test, then what
//! only a store shared by several processes does (concurrent migrations, the change feed,
//! outages).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::time::{Duration, Instant};

use credless_registry::{
    Oidc, Policy, PostgresStore, Registry, RegistryError, Store, Tenant, open_store,
};
use credless_testkit::tcp_relay::TcpRelay;

#[macro_use]
mod store_suite;
#[path = "store_suite/postgres.rs"]
mod pg;

async fn fixture() -> Option<store_suite::Fixture> {
    let database = pg::TestDatabase::create().await?;
    Some(store_suite::Fixture::new(
        database.url().to_owned(),
        database,
    ))
}

store_suite!(fixture);

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

/// Polls `condition` every 20 ms until it holds or `within` has passed.
async fn eventually<F: AsyncFnMut() -> bool>(within: Duration, mut condition: F) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = database.url().to_owned();
        opening.spawn(async move { PostgresStore::open(&url).await });
    }
    let stores: Vec<PostgresStore> = opening
        .join_all()
        .await
        .into_iter()
        .map(|store| store.unwrap())
        .collect();

    stores[0].create_tenant(&tenant("acme", &[])).await.unwrap();
    assert_eq!(stores[3].tenants().await.unwrap().len(), 1);
    let db = sqlx::PgPool::connect(database.url()).await.unwrap();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_version ORDER BY 1")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(versions, [1, 2]);
    db.close().await;
}

#[tokio::test]
async fn a_database_from_a_newer_credless_is_refused() {
    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    PostgresStore::open(database.url())
        .await
        .unwrap()
        .close()
        .await;
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    sqlx::query("INSERT INTO schema_version (version) VALUES (99)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    match PostgresStore::open(database.url()).await {
        Err(RegistryError::UnsupportedSchema {
            found: 99,
            supported: 2,
        }) => {}
        other => panic!("expected the schema to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn open_errors_and_debug_never_show_the_password() {
    let err = PostgresStore::open("postgres://credless:hunter2@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
    let chain = format!("{err} {err:?} {}", DisplayChain(&err));
    assert!(!chain.contains("hunter2"), "{chain}");
    assert!(chain.contains("127.0.0.1:1/none"), "{chain}");

    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    let url = database
        .url()
        .replace("postgres://postgres@", "postgres://postgres:hunter2@");
    let url = url.replace("postgres://root@", "postgres://root:hunter2@");
    let store = PostgresStore::open(&url).await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("127.0.0.1:5432/credless_t_"), "{debug}");
}

struct DisplayChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut current = Some(self.0);
        while let Some(err) = current {
            write!(f, "{err}: ")?;
            current = err.source();
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_is_woken_and_learns_what_changed() {
    let Some(fx) = fixture().await else { return };
    let policy = Policy {
        public_base_domain: "credless.example.com".to_owned(),
        ..Policy::default()
    };
    let writer = Registry::open(fx.open().await, policy.clone())
        .await
        .unwrap();
    let reader = Registry::open(fx.open().await, policy).await.unwrap();
    let mut feed = reader.change_feed().expect("PostgreSQL pushes changes");
    feed.borrow_and_update();

    writer
        .create_tenant(tenant("acme", &["cloud.acme.example"]))
        .await
        .unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(1), feed.changed()).await;
    assert!(matches!(woken, Ok(Ok(()))), "no wake-up within a second");
    let changes = reader.refresh().await.unwrap().expect("the revision moved");
    assert!(
        changes.is_empty(),
        "a new tenant replaces nothing: {changes:?}"
    );
    assert_eq!(reader.resolve("cloud.acme.example").unwrap().id, "acme");

    let prod = serde_json::from_value(serde_json::json!({"id": "prod", "provider": "aws",
        "region": "us-east-1", "role_arn": "arn:aws:iam::123456789012:role/credless"}))
    .unwrap();
    writer.put_account("acme", "prod", prod).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), feed.changed())
        .await
        .unwrap()
        .unwrap();
    reader.refresh().await.unwrap();

    writer.delete_tenant("acme").await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), feed.changed())
        .await
        .unwrap()
        .unwrap();
    let changes = reader.refresh().await.unwrap().expect("the revision moved");
    assert_eq!(changes.tenants, ["acme"]);
    assert_eq!(changes.accounts, [("acme".to_owned(), "prod".to_owned())]);
    assert!(reader.resolve("cloud.acme.example").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_unavailable_then_heals_without_reopening() {
    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    let relay = TcpRelay::start("127.0.0.1:5432".parse().unwrap())
        .await
        .unwrap();
    let store = open_store(&database.url_via(relay.addr())).await.unwrap();
    let direct = open_store(database.url()).await.unwrap();
    let mut feed = store.changes().unwrap();
    store.create_tenant(&tenant("before", &[])).await.unwrap();

    relay.cut().await;
    let started = Instant::now();
    let failed = store.create_tenant(&tenant("during", &[])).await;
    assert!(
        matches!(failed, Err(RegistryError::Unavailable { .. })),
        "{failed:?}"
    );
    assert!(matches!(
        store.ping().await,
        Err(RegistryError::Unavailable { .. })
    ));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failing took {:?}",
        started.elapsed()
    );
    assert_eq!(
        direct.tenant("during").await.unwrap(),
        None,
        "nothing half-written"
    );

    relay.restore().await.unwrap();
    let healed = eventually(Duration::from_secs(10), async || store.ping().await.is_ok()).await;
    assert!(healed, "the pool did not reconnect");
    store.create_tenant(&tenant("after", &[])).await.unwrap();

    // The listener reconnected too: a write elsewhere wakes this store again. The first
    // wake-up may be the reconnection itself; the second can only be the notification.
    let mut wakes_on_write = async || {
        feed.borrow_and_update();
        let id = format!("t{}", uuid::Uuid::new_v4().simple());
        direct.create_tenant(&tenant(&id, &[])).await.unwrap();
        tokio::time::timeout(Duration::from_millis(1000), feed.changed())
            .await
            .is_ok()
    };
    assert!(eventually(Duration::from_secs(10), &mut wakes_on_write).await);
    assert!(wakes_on_write().await, "the change feed did not come back");
}
