//! The `credless` binary as an operator uses it: exit codes, a server that starts with no
//! configuration, tenants that survive a restart, and the `tenant` commands.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_credless");

fn credless(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .unwrap()
}

/// A `credless serve` child with the addresses it reported.
struct Serve {
    child: Child,
    public: String,
    admin: String,
    token: String,
}

impl Serve {
    fn start(dir: &Path) -> Self {
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
            .current_dir(dir)
            .env_clear()
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
        let token = std::fs::read_to_string(dir.join("credless-admin-token")).unwrap();
        Self {
            child,
            public: listening["public"].as_str().unwrap().to_owned(),
            admin: listening["admin"].as_str().unwrap().to_owned(),
            token: token.trim().to_owned(),
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn acme() -> Value {
    json!({
        "id": "acme",
        "admin_email": "ops@acme.example",
        "hostnames": ["cloud.acme.example"],
        "proxy_url": "https://auth.acme.example",
        "oidc": { "issuer": "https://id.acme.example/", "audiences": ["credless-client-id"] }
    })
}

#[test]
fn bad_configuration_exits_64_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[server]\nlisten = \"nowhere\"\n",
    )
    .unwrap();
    let out = credless(dir.path(), &["check-config", "--config", "bad.toml"]);
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("server.listen"), "{stderr}");
    assert!(
        !stderr.contains("nowhere"),
        "the value is not echoed: {stderr}"
    );

    std::fs::write(
        dir.path().join("unknown.toml"),
        "[server]\nlisten_addr = \"x\"\n",
    )
    .unwrap();
    let out = credless(dir.path(), &["serve", "--config", "unknown.toml"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("unknown key `server.listen_addr`")
    );

    let out = credless(dir.path(), &["check-config", "--config", "missing.toml"]);
    assert_eq!(out.status.code(), Some(64));

    let out = credless(dir.path(), &["serve", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        String::from_utf8(out.stderr)
            .unwrap()
            .trim()
            .lines()
            .count(),
        1
    );

    std::fs::write(
        dir.path().join("good.toml"),
        "[session]\ncache_ttl = \"10s\"\n",
    )
    .unwrap();
    assert_eq!(
        credless(dir.path(), &["check-config", "--config", "good.toml"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn a_tenant_created_through_the_api_survives_a_restart_and_serves_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let http = client();

    let serve = Serve::start(dir.path());
    let created = http
        .post(format!("http://{}/admin/v1/tenants", serve.admin))
        .bearer_auth(&serve.token)
        .json(&acme())
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(serve.terminate().success(), "SIGTERM is a clean exit");

    let serve = Serve::start(dir.path());
    let kept = http
        .get(format!("http://{}/admin/v1/tenants/acme", serve.admin))
        .bearer_auth(&serve.token)
        .send()
        .unwrap();
    assert_eq!(kept.status(), 200);

    let known = http
        .get(format!("http://{}/api/v1/me", serve.public))
        .header("host", "cloud.acme.example")
        .send()
        .unwrap();
    let body: Value = known.json().unwrap();
    assert_ne!(body["code"], "unknown_host");

    let other = http
        .get(format!("http://{}/", serve.public))
        .header("host", "evil.example")
        .send();
    let body: Value = other.unwrap().json().unwrap();
    assert_eq!(body["code"], "unknown_host");
    serve.terminate();
}

#[test]
fn tenant_commands_manage_the_store_and_a_running_server_notices() {
    let dir = tempfile::tempdir().unwrap();
    let http = client();
    let serve = Serve::start(dir.path());

    let store = [
        "--store-url",
        "sqlite://credless.db",
        "--public-base-domain",
        "credless.test",
    ];
    let mut add = vec![
        "tenant",
        "add",
        "--id",
        "beta",
        "--admin-email",
        "ops@beta.example",
    ];
    add.extend([
        "--proxy-url",
        "https://auth.beta.example",
        "--issuer",
        "https://id.beta.example",
    ]);
    add.extend(["--audience", "credless", "--hostname", "cloud.beta.example"]);
    add.extend(store);
    let out = credless(dir.path(), &add);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["id"], "beta");

    let again = credless(dir.path(), &add);
    assert_eq!(
        again.status.code(),
        Some(1),
        "a taken id is a failure, not bad usage"
    );

    let mut bad = add.clone();
    bad[3] = "Beta!";
    assert_eq!(credless(dir.path(), &bad).status.code(), Some(64));

    let mut list = vec!["tenant", "list"];
    list.extend(store);
    let listed: Value = serde_json::from_slice(&credless(dir.path(), &list).stdout).unwrap();
    assert_eq!(listed["tenants"][0]["id"], "beta");

    // The running server picks the change up from the shared store.
    let served = || {
        let response = http
            .get(format!("http://{}/", serve.public))
            .header("host", "cloud.beta.example")
            .send()
            .unwrap();
        response.json::<Value>().unwrap()["code"] != "unknown_host"
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !served() {
        assert!(
            Instant::now() < deadline,
            "the server never saw the new tenant"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut remove = vec!["tenant", "remove", "beta"];
    remove.extend(store);
    assert_eq!(credless(dir.path(), &remove).status.code(), Some(0));
    let mut show = vec!["tenant", "show", "beta"];
    show.extend(store);
    assert_eq!(credless(dir.path(), &show).status.code(), Some(1));
    serve.terminate();
}

#[test]
fn a_crash_mid_write_leaves_every_tenant_whole() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let (admin, token) = (serve.admin.clone(), serve.token.clone());

    // Writers race a SIGKILL: whatever was committed must be complete, nothing else present.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (admin, token) = (admin.clone(), token.clone());
            std::thread::spawn(move || {
                let http = client();
                for i in 0..200 {
                    let id = format!("t{w}-{i}");
                    let mut tenant = acme();
                    tenant["id"] = json!(id);
                    tenant["hostnames"] =
                        json!([format!("a.{id}.example"), format!("b.{id}.example")]);
                    if http
                        .post(format!("http://{admin}/admin/v1/tenants"))
                        .bearer_auth(&token)
                        .json(&tenant)
                        .send()
                        .is_err()
                    {
                        return;
                    }
                }
            })
        })
        .collect();
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list: Value = http
            .get(format!("http://{admin}/admin/v1/tenants"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if list["tenants"].as_array().unwrap().len() >= 20 || Instant::now() > deadline {
            break;
        }
    }
    serve.kill();
    for writer in writers {
        writer.join().unwrap();
    }

    let serve = Serve::start(dir.path());
    let list: Value = http
        .get(format!("http://{}/admin/v1/tenants", serve.admin))
        .bearer_auth(&serve.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let tenants = list["tenants"].as_array().unwrap();
    assert!(tenants.len() >= 20, "committed tenants were lost");
    for tenant in tenants {
        let id = tenant["id"].as_str().unwrap();
        assert_eq!(
            tenant["hostnames"].as_array().unwrap().len(),
            2,
            "{id} is partial"
        );
        for host in [format!("a.{id}.example"), format!("b.{id}.example")] {
            let answer: Value = http
                .get(format!("http://{}/", serve.public))
                .header("host", host)
                .send()
                .unwrap()
                .json()
                .unwrap();
            assert_ne!(answer["code"], "unknown_host", "{id}");
        }
    }
    serve.terminate();
}
