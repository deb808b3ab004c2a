//! `credless dev` end to end, as a newcomer uses it: the real binary starts, prints its JSON
//! line, and everything is driven over HTTP the way a browser and `curl` would: the printed
//! cookie, a browser sign-in through the identity provider's page, verifying each account, a
//! VM's whole life in each cloud, the audit log, sign-out, and a clean stop on Ctrl-C.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_credless");

/// A running `credless dev --json` and what it printed.
struct Dev {
    child: Child,
    info: Value,
    /// Whatever it printed on stdout after the JSON line, collected until it exits.
    rest_of_stdout: mpsc::Receiver<String>,
    http: Client,
    portal: String,
}

impl Dev {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["dev", "--json", "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first, first_line) = mpsc::channel();
        let (rest, rest_of_stdout) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = first.send(line);
            let mut remaining = String::new();
            let _ = reader.read_to_string(&mut remaining);
            let _ = rest.send(remaining);
        });
        let line = first_line
            .recv_timeout(Duration::from_secs(120))
            .expect("credless dev printed no line within two minutes");
        let info: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|error| panic!("not one line of JSON: {line:?}: {error}"));

        let portal = info["portal_url"].as_str().unwrap().to_owned();
        let port: u16 = portal
            .strip_prefix("http://demo.localhost:")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("portal_url {portal}"))
            .parse()
            .unwrap();
        // What a browser does for `*.localhost`.
        let http = Client::builder()
            .resolve("demo.localhost", SocketAddr::from(([127, 0, 0, 1], port)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            child,
            info,
            rest_of_stdout,
            http,
            portal,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.portal, path.trim_start_matches('/'))
    }

    fn get(&self, cookie: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .unwrap()
    }

    fn post(&self, cookie: &str, path: &str, body: Option<Value>) -> Response {
        let mut request = self.http.post(self.url(path)).header(COOKIE, cookie);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().unwrap()
    }

    fn delete(&self, cookie: &str, path: &str) -> Response {
        self.http
            .delete(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .unwrap()
    }

    /// Signs in as a browser does, following every redirect by hand and keeping the cookies of
    /// each host; returns the session's `Cookie` header for the portal.
    fn browser_sign_in(&self) -> String {
        let mut jar: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut url = self.portal.clone();
        let mut saw_sign_in_page = false;
        for _ in 0..10 {
            let host = reqwest::Url::parse(&url)
                .unwrap()
                .host_str()
                .unwrap()
                .to_owned();
            let cookies = cookie_header(jar.get(&host));
            let response = self
                .http
                .get(&url)
                .header("accept", "text/html")
                .header(COOKIE, cookies)
                .send()
                .unwrap();
            keep_cookies(&mut jar, &host, &response);
            let status = response.status().as_u16();
            if status == 302 || status == 303 {
                url = absolute(&url, response.headers()[LOCATION].to_str().unwrap());
                continue;
            }
            if url == self.portal {
                // Back on the portal's front page, signed in.
                assert!(saw_sign_in_page, "never shown the sign-in page");
                return cookie_header(jar.get("demo.localhost"));
            }
            assert_eq!(status, 200, "{url}");
            let page = response.text().unwrap();
            assert!(
                page.contains("<button type=\"submit\">Sign in</button>"),
                "{url}: {page}"
            );
            assert!(page.contains(self.info["user"]["email"].as_str().unwrap()));
            saw_sign_in_page = true;
            let action = absolute(&url, "/authorize");
            let form = hidden_inputs(&page);
            let submitted = self.http.post(&action).form(&form).send().unwrap();
            assert_eq!(submitted.status(), 302, "submitting the sign-in form");
            url = absolute(&action, submitted.headers()[LOCATION].to_str().unwrap());
        }
        panic!("the sign-in never came back to the portal; last at {url}");
    }

    /// Reads the resource until `wanted` (`gone` for a 404 or `deleted`), within a deadline.
    fn until(&self, cookie: &str, account: &str, id: &str, wanted: &str) -> Vec<String> {
        let path = format!("/api/v1/accounts/{account}/resources/{id}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let response = self.get(cookie, &path);
            let state = if response.status() == 404 {
                "gone".to_owned()
            } else {
                assert_eq!(response.status(), 200, "{path}");
                let resource: Value = response.json().unwrap();
                resource["state"].as_str().unwrap().to_owned()
            };
            if seen.last() != Some(&state) {
                seen.push(state.clone());
            }
            if state == wanted || (wanted == "gone" && state == "deleted") {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{account}/{id} not {wanted} within 30 s: {seen:?}");
    }

    /// A VM created, listed, running, stopped, started and deleted, as the API reports it.
    fn vm_lifecycle(&self, cookie: &str, account: &str) {
        let base = format!("/api/v1/accounts/{account}/resources");
        let region = match account {
            "demo-aws" => "us-east-1",
            "demo-azure" => "westeurope",
            _ => "europe-west1",
        };
        let mut request = json!({"kind": "vm", "name": "web-1", "region": region,
                                 "size": "small", "tags": {"team": "web"}});
        if account == "demo-aws" {
            request["image"] = json!("ami-0abcdef1234567890");
        }
        let created = self.post(cookie, &base, Some(request));
        assert_eq!(created.status(), 202, "{account}: {:?}", created.text());
        let created: Value = created.json().unwrap();
        assert_eq!(created["state"], "pending", "{account}: {created}");
        let id = created["id"].as_str().unwrap().to_owned();

        let listed: Value = self.get(cookie, &format!("{base}?kind=vm")).json().unwrap();
        let listed = listed["resources"].as_array().unwrap();
        assert!(
            listed.iter().any(|r| r["id"] == id.as_str()),
            "{account}: {listed:?}"
        );

        self.until(cookie, account, &id, "running");
        let stop = self.post(cookie, &format!("{base}/{id}/stop"), None);
        assert_eq!(stop.status(), 202, "{account} stop");
        self.until(cookie, account, &id, "stopped");
        let start = self.post(cookie, &format!("{base}/{id}/start"), None);
        assert_eq!(start.status(), 202, "{account} start");
        self.until(cookie, account, &id, "running");
        let deleted = self.delete(cookie, &format!("{base}/{id}"));
        assert_eq!(deleted.status(), 202, "{account} delete");
        self.until(cookie, account, &id, "gone");
    }

    /// Sends SIGINT, as Ctrl-C does, and waits for the exit.
    fn interrupt(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let rest = self
                    .rest_of_stdout
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                return (status, rest);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("credless dev did not stop within 30 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn me(dev: &Dev, cookie: &str) -> Value {
    let response = dev.get(cookie, "/api/v1/me");
    assert_eq!(response.status(), 200);
    response.json().unwrap()
}

#[test]
fn a_newcomer_can_do_the_whole_flow_against_credless_dev() {
    let dev = Dev::start();
    let info = dev.info.clone();
    let email = info["user"]["email"].as_str().unwrap().to_owned();
    assert_eq!(info["tenant"], "demo");
    assert_eq!(info["cookie_name"], "_oauth2_proxy");
    assert_eq!(
        info["accounts"],
        json!(["demo-aws", "demo-azure", "demo-gcp"])
    );
    let cookie = info["cookie"].as_str().unwrap().to_owned();
    assert!(cookie.starts_with("_oauth2_proxy="), "{cookie}");
    let curl = info["curl"].as_str().unwrap();
    assert!(
        curl.contains(&cookie) && curl.ends_with("/api/v1/me"),
        "{curl}"
    );

    // The printed cookie works, and so does the printed curl line itself.
    let identity = me(&dev, &cookie);
    assert_eq!(identity["tenant"], "demo");
    assert_eq!(identity["email"], email.as_str());
    assert_eq!(identity["subject"], info["user"]["subject"]);
    assert_eq!(identity["tenant_admin"], true);
    let has_curl = Command::new("curl").arg("--version").output().is_ok();
    if has_curl {
        let output = Command::new("sh").args(["-c", curl]).output().unwrap();
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            printed.contains(&email),
            "the curl line printed {printed:?}"
        );
    }

    // The operator API answers with the printed token.
    let tenants = dev
        .http
        .get(format!(
            "{}/admin/v1/tenants/demo",
            info["admin_url"].as_str().unwrap()
        ))
        .bearer_auth(info["admin_token"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(tenants.status(), 200);

    // A browser signs in through the identity provider's page.
    let signed_in = dev.browser_sign_in();
    assert_eq!(me(&dev, &signed_in)["email"], email.as_str());

    for account in ["demo-aws", "demo-azure", "demo-gcp"] {
        let verified = dev.post(
            &signed_in,
            &format!("/api/v1/accounts/{account}/verify"),
            None,
        );
        assert_eq!(verified.status(), 200, "{account}: {:?}", verified.text());
        let verified: Value = verified.json().unwrap();
        assert_eq!(verified["ok"], true, "{account}: {verified}");
        assert!(
            verified["cloud_identity"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
    }
    for account in ["demo-aws", "demo-azure", "demo-gcp"] {
        dev.vm_lifecycle(&signed_in, account);
    }

    let audit = dev.get(&signed_in, "/api/v1/audit?limit=200");
    assert_eq!(audit.status(), 200);
    let audit: Value = audit.json().unwrap();
    for account in ["demo-aws", "demo-azure", "demo-gcp"] {
        let actions: Vec<&str> = audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["account"] == account && e["email"] == email.as_str())
            .filter_map(|e| e["action"].as_str())
            .filter(|action| action.starts_with("resource."))
            .collect();
        assert_eq!(
            actions,
            [
                "resource.delete",
                "resource.start",
                "resource.stop",
                "resource.create"
            ],
            "{account}, newest first"
        );
    }

    // Signing out ends the browser's session; the printed one lives on.
    let signed_out = dev.get(&signed_in, "/oauth2/sign_out");
    assert_eq!(signed_out.status(), 302);
    assert!(signed_out.headers().get_all(SET_COOKIE).iter().count() > 0);
    // Credless forgot the cached session when it passed the sign-out on: no waiting out the
    // cache's time to live.
    let status = dev.get(&signed_in, "/api/v1/me").status().as_u16();
    assert_eq!(status, 401, "the signed-out session still works");

    let (status, rest) = dev.interrupt();
    assert!(status.success(), "credless dev exited with {status}");
    assert_eq!(rest, "", "stdout carries only the JSON line");
}

#[test]
fn a_kept_data_directory_serves_the_demo_tenant_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let data = data.to_str().unwrap();
    for run in 0..2 {
        let dev = Dev::start_with(&["--data-dir", data]);
        let cookie = dev.info["cookie"].as_str().unwrap().to_owned();
        assert_eq!(me(&dev, &cookie)["tenant"], "demo", "run {run}");
        let accounts: Value = dev.get(&cookie, "/api/v1/accounts").json().unwrap();
        assert_eq!(
            accounts["accounts"].as_array().unwrap().len(),
            3,
            "run {run}"
        );
        let (status, _) = dev.interrupt();
        assert!(status.success(), "run {run}: {status}");
    }
    assert!(Path::new(data).join("credless.db").exists());
}

/// The `Cookie` header for the cookies kept for a host.
fn cookie_header(cookies: Option<&HashMap<String, String>>) -> String {
    cookies
        .map(|cookies| {
            cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Keeps the response's cookies for `host`, dropping those it expires.
fn keep_cookies(
    jar: &mut HashMap<String, HashMap<String, String>>,
    host: &str,
    response: &Response,
) {
    let cookies = jar.entry(host.to_owned()).or_default();
    for header in response.headers().get_all(SET_COOKIE) {
        let text = header.to_str().unwrap();
        let pair = text.split(';').next().unwrap_or_default();
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let expired = text.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
        if expired {
            cookies.remove(name.trim());
        } else {
            cookies.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
}

/// `location` resolved against `base`.
fn absolute(base: &str, location: &str) -> String {
    reqwest::Url::parse(base)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

/// The `name`/`value` pairs of a page's hidden inputs and selects' selected options.
fn hidden_inputs(page: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + tag[start..].find('"')?;
        Some(
            tag[start..end]
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#39;", "'")
                .replace("&amp;", "&"),
        )
    };
    page.split('<')
        .filter(|tag| tag.starts_with("input ") && tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}
