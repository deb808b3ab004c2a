//! Several `credless serve` replicas on one PostgreSQL database, as a provider runs them
//! behind a load balancer: changes made through one are served by the others within a
//! second, the database arbitrates concurrent creates, and a database outage is a clear
//! `503` that heals without a restart.
//!
//! Needs the machine's PostgreSQL on 127.0.0.1:5432 and `psql`; fails when it is missing
//! unless `CREDLESS_SKIP_POSTGRES=1`, which skips these tests with a notice.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::print_stderr, reason = "a skipped test says why")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use credless_testkit::tcp_relay::TcpRelay;
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_credless");

/// The operator token every replica shares, as a deployment would pass it.
const TOKEN: &str = "replica-test-token-0123456789abcdef0123456789abcdef0123456789abcdef";

/// How quickly a change on one replica must take effect on the others.
const PROPAGATION: Duration = Duration::from_secs(1);

/// A database created for one test with `psql`, dropped when this is dropped.
struct Database {
    user: &'static str,
    name: String,
}

impl Database {
    fn create() -> Option<Self> {
        if std::env::var("CREDLESS_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
            eprintln!("CREDLESS_SKIP_POSTGRES=1: skipping a PostgreSQL test");
            return None;
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("credless_t_{}_{nanos}", std::process::id());
        let mut failures = Vec::new();
        for user in ["postgres", "root"] {
            match psql(user, &format!("CREATE DATABASE {name}")) {
                Ok(()) => return Some(Self { user, name }),
                Err(why) => failures.push(format!("as {user}: {why}")),
            }
        }
        panic!(
            "PostgreSQL on 127.0.0.1:5432 is not usable ({}); start it (see .ci/run) or set \
             CREDLESS_SKIP_POSTGRES=1 to skip the PostgreSQL tests",
            failures.join("; ")
        );
    }

    /// The store URL of this database, reached at `addr`.
    fn url_at(&self, addr: &str) -> String {
        format!("postgres://{}@{addr}/{}", self.user, self.name)
    }

    fn url(&self) -> String {
        self.url_at("127.0.0.1:5432")
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = psql(
            self.user,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(user: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            user,
            "-d",
            "test",
            "-X",
            "-q",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|err| format!("cannot run psql: {err}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// A `credless serve` child on a store, with the addresses it reported; killed on drop.
struct Replica {
    child: Child,
    public: String,
    admin: String,
}

impl Replica {
    fn start(store_url: &str) -> Self {
        Self::start_with(store_url, &[])
    }

    fn start_with(store_url: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args([
                "--log-format",
                "json",
                "--public-base-domain",
                "credless.test",
            ])
            .args(["--store-url", store_url])
            .current_dir(dir.path())
            .env_clear()
            .env("CREDLESS_ADMIN__TOKEN", TOKEN)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let listening = loop {
            let line = received
                .recv_timeout(Duration::from_secs(30))
                .expect("no listening line");
            let event: Value = serde_json::from_str(&line).expect("log lines are JSON");
            if event["message"] == "listening" {
                break event;
            }
        };
        Self {
            child,
            public: listening["public"].as_str().unwrap().to_owned(),
            admin: listening["admin"].as_str().unwrap().to_owned(),
        }
    }

    fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// The problem code (or `"ok"`) a portal request for `host` gets.
    fn code_for_host(&self, host: &str) -> String {
        self.me(host, "")
    }

    /// The problem code (or `"ok"`) of `GET /api/v1/me` for `host` with `cookie`.
    fn me(&self, host: &str, cookie: &str) -> String {
        let answer = client()
            .get(format!("http://{}/api/v1/me", self.public))
            .header("host", host)
            .header("cookie", cookie)
            .send()
            .unwrap();
        let body: Value = answer.json().unwrap_or(Value::Null);
        body["code"].as_str().unwrap_or("ok").to_owned()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn tenant(id: &str, hostname: &str) -> Value {
    json!({
        "id": id,
        "admin_email": format!("ops@{id}.example"),
        "hostnames": [hostname],
        "proxy_url": format!("https://auth.{id}.example"),
        "oidc": { "issuer": format!("https://id.{id}.example/"), "audiences": ["client"] }
    })
}

fn create(replica: &Replica, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(replica.admin("/admin/v1/tenants"))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .unwrap()
}

/// Polls `condition` every 20 ms until it holds or `within` has passed.
fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_tenant_created_on_one_replica_serves_on_the_other_and_its_removal_reaches_both() {
    let Some(database) = Database::create() else {
        return;
    };
    let (one, two) = (
        Replica::start(&database.url()),
        Replica::start(&database.url()),
    );
    assert_eq!(two.code_for_host("cloud.acme.example"), "unknown_host");

    assert_eq!(
        create(&one, &tenant("acme", "cloud.acme.example")).status(),
        201
    );
    let served = eventually(PROPAGATION, || {
        two.code_for_host("cloud.acme.example") != "unknown_host"
    });
    assert!(
        served,
        "the other replica did not serve the new tenant within a second"
    );

    let removed = client()
        .delete(two.admin("/admin/v1/tenants/acme"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(removed.status(), 204);
    let gone = eventually(PROPAGATION, || {
        [&one, &two]
            .iter()
            .all(|replica| replica.code_for_host("cloud.acme.example") == "unknown_host")
    });
    assert!(
        gone,
        "both replicas must answer unknown_host within a second"
    );
    let listed: Value = client()
        .get(one.admin("/admin/v1/tenants"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["tenants"], json!([]));
}

#[test]
fn concurrent_duplicate_creates_on_two_replicas_give_one_201_and_one_409() {
    let Some(database) = Database::create() else {
        return;
    };
    let replicas = Arc::new([
        Replica::start(&database.url()),
        Replica::start(&database.url()),
    ]);
    // Same id, then same hostname under two ids.
    let rounds = [
        [
            tenant("acme", "a.acme.example"),
            tenant("acme", "b.acme.example"),
        ],
        [
            tenant("left", "shared.example"),
            tenant("right", "shared.example"),
        ],
    ];
    for bodies in rounds {
        let start = Arc::new(Barrier::new(2));
        let racers: Vec<_> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let (replicas, start) = (Arc::clone(&replicas), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    let answer = create(&replicas[i], &body);
                    let status = answer.status().as_u16();
                    let problem: Value = answer.json().unwrap_or(Value::Null);
                    (status, problem["code"].clone())
                })
            })
            .collect();
        let mut outcomes: Vec<(u16, Value)> = racers
            .into_iter()
            .map(|racer| racer.join().unwrap())
            .collect();
        outcomes.sort_by_key(|(status, _)| *status);
        assert_eq!(outcomes[0].0, 201, "{outcomes:?}");
        assert_eq!(outcomes[1], (409, json!("conflict")), "{outcomes:?}");
    }
}

#[test]
fn a_database_outage_is_a_clear_503_and_heals_without_a_restart() {
    let Some(database) = Database::create() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let relay = runtime
        .block_on(TcpRelay::start("127.0.0.1:5432".parse().unwrap()))
        .unwrap();
    let cut_off = Replica::start(&database.url_at(&relay.addr().to_string()));
    let direct = Replica::start(&database.url());
    assert_eq!(
        create(&cut_off, &tenant("acme", "cloud.acme.example")).status(),
        201
    );
    let ready = || {
        client()
            .get(cut_off.admin("/readyz"))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready(), 200);

    runtime.block_on(relay.cut());
    let not_ready = eventually(Duration::from_secs(10), || ready() == 503);
    assert!(not_ready, "/readyz must report the outage");
    let listing = client()
        .get(cut_off.admin("/admin/v1/tenants"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(listing.status(), 503);
    let problem: Value = listing.json().unwrap();
    assert_eq!(problem["code"], "unavailable");
    let refused = create(&cut_off, &tenant("during", "during.example"));
    assert_eq!(refused.status(), 503);
    assert_eq!(
        cut_off.code_for_host("cloud.acme.example"),
        direct.code_for_host("cloud.acme.example"),
        "known hosts keep routing from memory"
    );

    runtime.block_on(relay.restore()).unwrap();
    let healed = eventually(Duration::from_secs(15), || ready() == 200);
    assert!(healed, "/readyz must recover without a restart");
    assert_eq!(
        create(&cut_off, &tenant("after", "after.example")).status(),
        201
    );
    assert_eq!(
        create(&direct, &tenant("later", "later.example")).status(),
        201
    );
    let seen = eventually(PROPAGATION * 3, || {
        cut_off.code_for_host("later.example") != "unknown_host"
    });
    assert!(
        seen,
        "changes from other replicas flow again after the outage"
    );
    let missing = client()
        .get(direct.admin("/admin/v1/tenants/during"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404, "nothing half-written");
}

#[test]
fn replacing_a_tenant_on_one_replica_ends_its_sessions_on_the_other() {
    let Some(database) = Database::create() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (idp, proxy) = runtime.block_on(async {
        let idp = OidcProvider::start().await;
        let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;
        (idp, proxy)
    });
    // The fake proxy listens on plain HTTP on loopback.
    let insecure = [("CREDLESS_SERVER__ALLOW_INSECURE_UPSTREAMS", "true")];
    let one = Replica::start_with(&database.url(), &insecure);
    let two = Replica::start_with(&database.url(), &insecure);
    let acme = json!({
        "id": "acme",
        "admin_email": "ops@acme.example",
        "proxy_url": proxy.url(),
        "oidc": { "issuer": idp.issuer(), "audiences": ["credless-client"] }
    });
    assert_eq!(create(&one, &acme).status(), 201);
    let host = "acme.credless.test";
    assert!(eventually(PROPAGATION, || two.code_for_host(host) != "unknown_host"));

    let cookie = OAuth2Proxy::cookie_header(&proxy.sign_in(User::demo()));
    assert_eq!(two.me(host, &cookie), "ok");
    proxy.revoke_user(&User::demo().sub);
    assert_eq!(
        two.me(host, &cookie),
        "ok",
        "the session is cached on replica two"
    );

    let mut changed = acme.clone();
    changed["admin_groups"] = json!(["platform"]);
    let replaced = client()
        .put(one.admin("/admin/v1/tenants/acme"))
        .bearer_auth(TOKEN)
        .json(&changed)
        .send()
        .unwrap();
    assert_eq!(replaced.status(), 200);
    let ended = eventually(PROPAGATION, || two.me(host, &cookie) == "login_required");
    assert!(
        ended,
        "replica two must drop the tenant's sessions within a second"
    );
}
