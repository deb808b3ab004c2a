//! Fresh PostgreSQL databases for tests, on the machine's server.
//!
//! The server is `CREDLESS_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`,
//! then user `root`). When it does not answer the test fails and says so, unless
//! `CREDLESS_SKIP_POSTGRES=1`, which skips it with a notice.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::print_stderr, reason = "a skipped test says why")]

use sqlx::{Connection, PgConnection};

/// A database created for one test and dropped, best effort, when this is dropped.
pub(crate) struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database; `None` when PostgreSQL tests are skipped.
    pub(crate) async fn create() -> Option<Self> {
        if std::env::var("CREDLESS_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
            eprintln!("CREDLESS_SKIP_POSTGRES=1: skipping a PostgreSQL test");
            return None;
        }
        let candidates = match std::env::var("CREDLESS_TEST_POSTGRES") {
            Ok(url) => vec![url],
            Err(_) => vec![
                "postgres://postgres@127.0.0.1:5432/test".to_owned(),
                "postgres://root@127.0.0.1:5432/test".to_owned(),
            ],
        };
        let mut failures = Vec::new();
        for admin_url in candidates {
            match PgConnection::connect(&admin_url).await {
                Ok(mut admin) => {
                    let name = format!("credless_t_{}", uuid::Uuid::new_v4().simple());
                    let create = format!("CREATE DATABASE {name}");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                        .execute(&mut admin)
                        .await
                        .unwrap();
                    let _ = admin.close().await;
                    let url = database_url(&admin_url, &name);
                    return Some(Self {
                        admin_url,
                        name,
                        url,
                    });
                }
                Err(err) => failures.push(format!("{admin_url}: {err}")),
            }
        }
        panic!(
            "PostgreSQL is not reachable ({}); start it (see .ci/run) or set \
             CREDLESS_SKIP_POSTGRES=1 to skip the PostgreSQL tests",
            failures.join("; ")
        );
    }

    /// The URL of the new database.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The URL of the new database, reached through `addr` instead (a relay).
    #[allow(dead_code, reason = "only some tests use it")]
    pub(crate) fn url_via(&self, addr: std::net::SocketAddr) -> String {
        self.url.replace("127.0.0.1:5432", &addr.to_string())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Dropping needs a connection; a thread of its own keeps this out of the test's runtime.
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropping.join();
    }
}

fn database_url(admin_url: &str, name: &str) -> String {
    match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => format!("{admin_url}/{name}"),
    }
}
