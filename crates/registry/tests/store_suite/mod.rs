//! One conformance suite for every [`Store`] backend: each backend's test file provides a
//! fresh, empty database as a [`Fixture`] and expands [`store_suite!`] over it.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use credless_registry::{
    Account, AuditEvent, IdempotencyClaim, Oidc, Outcome, Put, RegistryError, Store, Tenant,
    open_store,
};

/// A fresh, empty database, and whatever removes it when the test is over.
pub(crate) struct Fixture {
    url: String,
    _cleanup: Box<dyn Send + Sync>,
}

impl Fixture {
    /// A fixture for the store at `url`; `cleanup` is dropped after the test.
    pub(crate) fn new(url: String, cleanup: impl Send + Sync + 'static) -> Self {
        Self {
            url,
            _cleanup: Box::new(cleanup),
        }
    }

    /// The store URL, as `store.url` would name it.
    #[allow(dead_code, reason = "only some backends' tests use it")]
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A new handle on the database, as another process would open it.
    pub(crate) async fn open(&self) -> Arc<dyn Store> {
        open_store(&self.url).await.unwrap()
    }
}

/// Expands every suite test as a `#[tokio::test]` over `$fixture`, an async function giving
/// `Option<Fixture>` (`None` skips the test).
macro_rules! store_suite {
    ($fixture:path) => {
        store_suite!(@tests $fixture;
            tenants_round_trip_sorted_by_id,
            a_taken_id_is_a_conflict,
            a_failed_create_leaves_nothing_behind,
            replace_moves_hostnames_and_refuses_those_of_others,
            replace_and_delete_of_an_absent_tenant_are_not_found,
            accounts_are_created_replaced_and_deleted,
            accounts_need_their_tenant_and_go_with_it,
            every_write_bumps_the_revision,
            writes_from_one_handle_are_seen_by_another,
            concurrent_creates_of_one_id_from_two_handles,
            concurrent_claims_of_one_hostname_from_two_handles,
            audit_events_come_back_newest_first_and_outlive_the_tenant,
            of_concurrent_idempotency_claims_exactly_one_is_new,
            idempotency_records_complete_and_go_with_their_account,
        );
    };
    (@tests $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(fixture) = $fixture().await else { return };
                crate::store_suite::$name(&fixture).await;
            }
        )*
    };
}

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

#[track_caller]
fn assert_conflict(result: Result<(), RegistryError>, needle: &str) {
    match result {
        Err(RegistryError::Conflict { reason }) => assert!(reason.contains(needle), "{reason}"),
        other => panic!("expected a conflict about {needle}, got {other:?}"),
    }
}

#[track_caller]
fn assert_one_wins<T: std::fmt::Debug>(outcomes: &[Result<T, RegistryError>]) {
    let wins = outcomes.iter().filter(|r| r.is_ok()).count();
    let conflicts = outcomes
        .iter()
        .filter(|r| matches!(r, Err(RegistryError::Conflict { .. })))
        .count();
    assert_eq!((wins, conflicts), (1, 1), "{outcomes:?}");
}

pub(crate) async fn tenants_round_trip_sorted_by_id(fx: &Fixture) {
    let store = fx.open().await;
    store
        .create_tenant(&tenant("zeta", &["z.example"]))
        .await
        .unwrap();
    let acme = tenant("acme", &["cloud.acme.example", "b.acme.example"]);
    store.create_tenant(&acme).await.unwrap();
    store.create_tenant(&tenant("Acme-2", &[])).await.unwrap();

    assert_eq!(store.tenant("acme").await.unwrap(), Some(acme));
    assert_eq!(store.tenant("nobody").await.unwrap(), None);
    let ids: Vec<String> = store
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        ids,
        ["Acme-2", "acme", "zeta"],
        "byte order, whatever the collation"
    );
}

pub(crate) async fn a_taken_id_is_a_conflict(fx: &Fixture) {
    let store = fx.open().await;
    store.create_tenant(&tenant("acme", &[])).await.unwrap();
    let again = store
        .create_tenant(&tenant("acme", &["other.example"]))
        .await;
    assert_conflict(again, "`acme`");
    assert_eq!(
        store.tenant("acme").await.unwrap().unwrap().hostnames,
        Vec::<String>::new()
    );
}

pub(crate) async fn a_failed_create_leaves_nothing_behind(fx: &Fixture) {
    let store = fx.open().await;
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

pub(crate) async fn replace_moves_hostnames_and_refuses_those_of_others(fx: &Fixture) {
    let store = fx.open().await;
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
    let hostnames = store.tenant("a").await.unwrap().unwrap().hostnames;
    assert_eq!(hostnames, ["old.a.example"]);

    store
        .replace_tenant(&tenant("a", &["new.a.example"]))
        .await
        .unwrap();
    let b = tenant("b", &["b.example", "old.a.example"]);
    store.replace_tenant(&b).await.unwrap();
    let hostnames = store.tenant("a").await.unwrap().unwrap().hostnames;
    assert_eq!(hostnames, ["new.a.example"]);
    assert_eq!(store.tenant("b").await.unwrap(), Some(b));
}

pub(crate) async fn replace_and_delete_of_an_absent_tenant_are_not_found(fx: &Fixture) {
    let store = fx.open().await;
    let not_found = |result: Result<(), RegistryError>| match result {
        Err(RegistryError::NotFound { kind, id }) => kind == "tenant" && id == "ghost",
        _ => false,
    };
    assert!(not_found(store.replace_tenant(&tenant("ghost", &[])).await));
    assert!(not_found(store.delete_tenant("ghost").await));
    assert_eq!(store.revision().await.unwrap(), 0);
}

pub(crate) async fn accounts_are_created_replaced_and_deleted(fx: &Fixture) {
    let store = fx.open().await;
    store.create_tenant(&tenant("acme", &[])).await.unwrap();

    let put = async |id, region| {
        store
            .put_account("acme", &account(id, region))
            .await
            .unwrap()
    };
    assert_eq!(put("prod", "us-east-1").await, Put::Created);
    assert_eq!(put("dev", "us-east-1").await, Put::Created);
    assert_eq!(put("prod", "eu-west-1").await, Put::Replaced);

    let listed = store.accounts("acme").await.unwrap();
    let ids: Vec<&str> = listed.iter().map(Account::id).collect();
    assert_eq!(ids, ["dev", "prod"]);
    let prod = store.account("acme", "prod").await.unwrap().unwrap();
    assert_eq!(prod.region(), "eu-west-1");
    let all = store.all_accounts().await.unwrap();
    assert_eq!(
        all,
        [
            ("acme".to_owned(), account("dev", "us-east-1")),
            ("acme".to_owned(), account("prod", "eu-west-1")),
        ]
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

pub(crate) async fn accounts_need_their_tenant_and_go_with_it(fx: &Fixture) {
    let store = fx.open().await;
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
    assert!(store.accounts("acme").await.unwrap().is_empty());
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

pub(crate) async fn every_write_bumps_the_revision(fx: &Fixture) {
    let store = fx.open().await;
    let mut last = store.revision().await.unwrap();
    let mut expect_bump = async |store: &Arc<dyn Store>| {
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

pub(crate) async fn writes_from_one_handle_are_seen_by_another(fx: &Fixture) {
    let (first, second) = (fx.open().await, fx.open().await);
    let before = second.revision().await.unwrap();
    first
        .create_tenant(&tenant("acme", &["cloud.acme.example"]))
        .await
        .unwrap();
    first
        .put_account("acme", &account("prod", "us-east-1"))
        .await
        .unwrap();

    assert!(second.revision().await.unwrap() > before);
    let seen = second.tenant("acme").await.unwrap();
    assert_eq!(seen, Some(tenant("acme", &["cloud.acme.example"])));
    assert_eq!(
        second.accounts("acme").await.unwrap(),
        [account("prod", "us-east-1")]
    );
    assert_conflict(
        second
            .create_tenant(&tenant("b", &["cloud.acme.example"]))
            .await,
        "acme",
    );
}

pub(crate) async fn concurrent_creates_of_one_id_from_two_handles(fx: &Fixture) {
    let (first, second) = (fx.open().await, fx.open().await);
    let one = tenant("acme", &["one.example"]);
    let two = tenant("acme", &["two.example"]);
    let (a, b) = tokio::join!(
        tokio::spawn(async move { first.create_tenant(&one).await }),
        tokio::spawn(async move { second.create_tenant(&two).await }),
    );
    assert_one_wins(&[a.unwrap(), b.unwrap()]);
}

pub(crate) async fn concurrent_claims_of_one_hostname_from_two_handles(fx: &Fixture) {
    let (first, second) = (fx.open().await, fx.open().await);
    for round in 0..5 {
        let host = format!("shared-{round}.example");
        let one = tenant(&format!("a{round}"), &[&host]);
        let two = tenant(&format!("b{round}"), &[&host]);
        let (first, second) = (Arc::clone(&first), Arc::clone(&second));
        let (a, b) = tokio::join!(
            tokio::spawn(async move { first.create_tenant(&one).await }),
            tokio::spawn(async move { second.create_tenant(&two).await }),
        );
        assert_one_wins(&[a.unwrap(), b.unwrap()]);
    }
    assert_eq!(fx.open().await.tenants().await.unwrap().len(), 5);
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
}

pub(crate) async fn audit_events_come_back_newest_first_and_outlive_the_tenant(fx: &Fixture) {
    let store = fx.open().await;
    store.create_tenant(&tenant("acme", &[])).await.unwrap();
    for (request, seconds) in [("r1", 10), ("r3", 30), ("r2", 20)] {
        let mut event = AuditEvent::new("acme", request, "alice", "account.put", Outcome::Success)
            .with_time(at(seconds))
            .with_detail("{\"region\":\"eu-west-1\"}");
        event.email = Some("alice@acme.example".to_owned());
        event.account = Some("prod".to_owned());
        store.record_audit(&event).await.unwrap();
    }
    store.delete_tenant("acme").await.unwrap();

    let events = store.audit("acme", 2).await.unwrap();
    let requests: Vec<&str> = events.iter().map(|e| e.request_id.as_str()).collect();
    assert_eq!(requests, ["r3", "r2"]);
    assert_eq!(events[0].time, at(30));
    assert_eq!(events[0].email.as_deref(), Some("alice@acme.example"));
    assert_eq!(events[0].account.as_deref(), Some("prod"));
    assert_eq!(events[0].outcome, Outcome::Success);
    assert!(store.audit("other", 10).await.unwrap().is_empty());
}

pub(crate) async fn of_concurrent_idempotency_claims_exactly_one_is_new(fx: &Fixture) {
    let setup = fx.open().await;
    setup.create_tenant(&tenant("acme", &[])).await.unwrap();
    setup
        .put_account("acme", &account("prod", "us-east-1"))
        .await
        .unwrap();

    let mut claims = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = fx.open().await;
        claims.spawn(async move {
            store
                .claim_idempotency("acme", "prod", "key-1", "fp", at(0))
                .await
        });
    }
    let outcomes: Vec<IdempotencyClaim> = claims
        .join_all()
        .await
        .into_iter()
        .map(|c| c.unwrap())
        .collect();
    let new = outcomes
        .iter()
        .filter(|c| matches!(c, IdempotencyClaim::New))
        .count();
    let in_flight = outcomes
        .iter()
        .filter(|c| matches!(c, IdempotencyClaim::InFlight))
        .count();
    assert_eq!((new, in_flight), (1, 7), "{outcomes:?}");
}

pub(crate) async fn idempotency_records_complete_and_go_with_their_account(fx: &Fixture) {
    let store = fx.open().await;
    store.create_tenant(&tenant("acme", &[])).await.unwrap();
    store
        .put_account("acme", &account("prod", "us-east-1"))
        .await
        .unwrap();
    let claim = async |fingerprint: &str| {
        store
            .claim_idempotency("acme", "prod", "k", fingerprint, at(1))
            .await
            .unwrap()
    };
    assert_eq!(claim("fp").await, IdempotencyClaim::New);
    let body = serde_json::json!({"id": "bucket-1", "tags": {"a": 1, "b": [true, null]}});
    store
        .complete_idempotency("acme", "prod", "k", 201, &body)
        .await
        .unwrap();
    assert_eq!(
        claim("fp").await,
        IdempotencyClaim::Done {
            status: 201,
            response: body
        }
    );
    assert_eq!(claim("other").await, IdempotencyClaim::Mismatch);

    let missing = store
        .claim_idempotency("acme", "ghost", "k", "fp", at(1))
        .await;
    assert!(
        matches!(
            missing,
            Err(RegistryError::NotFound {
                kind: "account",
                ..
            })
        ),
        "{missing:?}"
    );
    store.delete_account("acme", "prod").await.unwrap();
    store
        .put_account("acme", &account("prod", "us-east-1"))
        .await
        .unwrap();
    assert_eq!(
        claim("fp").await,
        IdempotencyClaim::New,
        "the record went with the account"
    );
}
