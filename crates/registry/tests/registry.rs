//! The registry as the gateway and the CLI use it.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::sync::Arc;

use credless_registry::{
    Account, Oidc, Policy, Put, Registry, RegistryError, SqliteStore, Store, Tenant,
};

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

fn policy() -> Policy {
    Policy {
        public_base_domain: "credless.example.com".to_owned(),
        ..Policy::default()
    }
}

async fn open(url: &str) -> Registry {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(url).await.unwrap());
    Registry::open(store, policy()).await.unwrap()
}

fn resolved(registry: &Registry, host: &str) -> Option<String> {
    registry.resolve(host).map(|t| t.id.clone())
}

#[tokio::test]
async fn a_created_tenant_resolves_at_once_by_both_names() {
    let registry = open("sqlite::memory:").await;
    let stored = registry
        .create_tenant(tenant("acme", &["Cloud.Acme.Example."]))
        .await
        .unwrap();

    assert_eq!(
        stored.hostnames,
        ["cloud.acme.example"],
        "normalised before storing"
    );
    assert_eq!(
        resolved(&registry, "cloud.acme.example:443").as_deref(),
        Some("acme")
    );
    assert_eq!(
        resolved(&registry, "acme.credless.example.com").as_deref(),
        Some("acme")
    );
    assert_eq!(registry.tenant("acme").await.unwrap(), Some(stored));
}

#[tokio::test]
async fn invalid_or_conflicting_tenants_change_nothing() {
    let registry = open("sqlite::memory:").await;
    registry
        .create_tenant(tenant("a", &["taken.example"]))
        .await
        .unwrap();

    let mut insecure = tenant("b", &["b.example"]);
    insecure.proxy_url = "http://auth.b.example".to_owned();
    let err = registry.create_tenant(insecure).await.unwrap_err();
    assert!(matches!(err, RegistryError::Invalid { ref field, .. } if field == "proxy_url"));

    let err = registry
        .create_tenant(tenant("b", &["b.example", "taken.example"]))
        .await;
    assert!(
        matches!(err, Err(RegistryError::Conflict { .. })),
        "{err:?}"
    );
    assert_eq!(resolved(&registry, "b.example"), None);
    assert_eq!(resolved(&registry, "b.credless.example.com"), None);
    assert_eq!(resolved(&registry, "taken.example").as_deref(), Some("a"));
}

#[tokio::test]
async fn replace_checks_the_path_id_and_moves_hostnames() {
    let registry = open("sqlite::memory:").await;
    registry
        .create_tenant(tenant("acme", &["old.example"]))
        .await
        .unwrap();

    let err = registry
        .replace_tenant("acme", tenant("other", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Invalid { ref field, .. } if field == "id"),
        "{err:?}"
    );

    let mut body = tenant("acme", &["new.example"]);
    body.id = String::new();
    let stored = registry.replace_tenant("acme", body).await.unwrap();
    assert_eq!(
        stored.id, "acme",
        "an id left out of the body comes from the path"
    );
    assert_eq!(resolved(&registry, "old.example"), None);
    assert_eq!(resolved(&registry, "new.example").as_deref(), Some("acme"));

    let missing = registry.replace_tenant("ghost", tenant("ghost", &[])).await;
    assert!(matches!(
        missing,
        Err(RegistryError::NotFound { kind: "tenant", .. })
    ));
}

#[tokio::test]
async fn a_deleted_tenant_stops_resolving_at_once() {
    let registry = open("sqlite::memory:").await;
    registry
        .create_tenant(tenant("acme", &["cloud.acme.example"]))
        .await
        .unwrap();
    registry.delete_tenant("acme").await.unwrap();

    assert_eq!(resolved(&registry, "cloud.acme.example"), None);
    assert_eq!(resolved(&registry, "acme.credless.example.com"), None);
    let again = registry.delete_tenant("acme").await;
    assert!(
        matches!(again, Err(RegistryError::NotFound { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn accounts_are_validated_before_they_are_stored() {
    let registry = open("sqlite::memory:").await;
    registry.create_tenant(tenant("acme", &[])).await.unwrap();
    let body = |arn: &str| -> Account {
        serde_json::from_value(serde_json::json!({"provider": "aws", "region": "us-east-1",
            "role_arn": arn}))
        .unwrap()
    };

    let err = registry
        .put_account("acme", "prod", body("arn:aws:iam::1:role/x"))
        .await;
    assert!(matches!(err, Err(RegistryError::Invalid { ref field, .. }) if field == "role_arn"));
    assert_eq!(registry.account("acme", "prod").await.unwrap(), None);

    let good = body("arn:aws:iam::123456789012:role/credless");
    let (put, stored) = registry
        .put_account("acme", "prod", good.clone())
        .await
        .unwrap();
    assert_eq!((put, stored.id()), (Put::Created, "prod"));
    let (put, _) = registry
        .put_account("acme", "prod", good.clone())
        .await
        .unwrap();
    assert_eq!(put, Put::Replaced);

    let mut mismatched = good;
    mismatched.set_id("dev");
    let err = registry.put_account("acme", "prod", mismatched).await;
    assert!(matches!(err, Err(RegistryError::Invalid { ref field, .. }) if field == "id"));

    registry.delete_account("acme", "prod").await.unwrap();
    assert!(registry.accounts("acme").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_second_process_sees_changes_after_refreshing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let server = open(&url).await;
    let cli = open(&url).await;
    assert!(
        !server.refresh_if_changed().await.unwrap(),
        "nothing changed yet"
    );

    cli.create_tenant(tenant("acme", &["cloud.acme.example"]))
        .await
        .unwrap();
    assert_eq!(
        resolved(&server, "cloud.acme.example"),
        None,
        "no I/O on lookups"
    );
    assert!(server.refresh_if_changed().await.unwrap());
    assert_eq!(
        resolved(&server, "cloud.acme.example").as_deref(),
        Some("acme")
    );
    assert!(
        !server.refresh_if_changed().await.unwrap(),
        "already up to date"
    );

    cli.delete_tenant("acme").await.unwrap();
    assert!(server.refresh_if_changed().await.unwrap());
    assert_eq!(resolved(&server, "cloud.acme.example"), None);
}

#[tokio::test]
async fn a_refresh_names_what_another_process_replaced_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let (server, cli) = (open(&url).await, open(&url).await);
    let prod = |region: &str| -> Account {
        serde_json::from_value(serde_json::json!({"id": "prod", "provider": "aws",
            "region": region, "role_arn": "arn:aws:iam::123456789012:role/credless"}))
        .unwrap()
    };
    cli.create_tenant(tenant("acme", &[])).await.unwrap();
    cli.create_tenant(tenant("zeta", &[])).await.unwrap();
    cli.put_account("acme", "prod", prod("us-east-1"))
        .await
        .unwrap();
    let added = server.refresh().await.unwrap().unwrap();
    assert!(added.is_empty(), "additions replace nothing: {added:?}");
    assert_eq!(server.refresh().await.unwrap(), None, "already up to date");

    cli.put_account("acme", "prod", prod("eu-west-1"))
        .await
        .unwrap();
    cli.replace_tenant("zeta", tenant("zeta", &["z.example"]))
        .await
        .unwrap();
    let changed = server.refresh().await.unwrap().unwrap();
    assert_eq!(changed.tenants, ["zeta"]);
    assert_eq!(changed.accounts, [("acme".to_owned(), "prod".to_owned())]);

    cli.delete_tenant("acme").await.unwrap();
    let removed = server.refresh().await.unwrap().unwrap();
    assert_eq!(removed.tenants, ["acme"]);
    assert_eq!(removed.accounts, [("acme".to_owned(), "prod".to_owned())]);
}

#[tokio::test]
async fn readiness_follows_the_store() {
    let store = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
    let registry = Registry::open(store.clone(), policy()).await.unwrap();
    assert!(registry.ready().await);
    store.close().await;
    assert!(!registry.ready().await);
    assert_eq!(resolved(&registry, "acme.credless.example.com"), None);
}

#[tokio::test]
async fn a_bad_base_domain_is_refused_at_open() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
    let bad = Policy {
        public_base_domain: "not a domain".to_owned(),
        ..Policy::default()
    };
    let err = Registry::open(store, bad).await.unwrap_err();
    assert!(matches!(err, RegistryError::Invalid { ref field, .. } if field.ends_with("domain")));
}
