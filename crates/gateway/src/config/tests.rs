#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::io::Write;

use super::*;

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(contents.as_bytes()).unwrap();
    file
}

/// An environment layer that sees no variables, so tests never depend on the real one.
fn no_env() -> Env {
    Env::prefixed("CREDLESS_TEST_NEVER_SET_").split("__")
}

#[test]
fn defaults_need_no_file() {
    let config = Config::load_from(None, no_env(), &Overrides::default()).unwrap();
    assert_eq!(config.server.listen.port(), 8080);
    assert_eq!(config.server.admin_listen.to_string(), "127.0.0.1:8081");
    assert_eq!(config.store.url, "sqlite://credless.db");
    assert_eq!(config.session.cache_ttl, Duration::from_secs(30));
    assert_eq!(config.limits.max_body_bytes, 1024 * 1024);
    assert!(config.limits.header_read_timeout <= Duration::from_secs(30));
}

#[test]
fn file_values_and_durations_are_read() {
    let f = file(
        r#"
        [server]
        listen = "127.0.0.1:9000"
        public_base_domain = "credless.example.com"
        trusted_proxies = ["10.0.0.0/8"]
        [session]
        cache_ttl = "5m"
        [clouds.aws]
        sts_endpoint = "http://127.0.0.1:5000"
        "#,
    );
    let config = Config::load_from(Some(f.path()), no_env(), &Overrides::default()).unwrap();
    assert_eq!(config.server.listen.port(), 9000);
    assert_eq!(config.server.trusted_proxies.len(), 1);
    assert_eq!(config.session.cache_ttl, Duration::from_secs(300));
    assert_eq!(config.clouds.aws.sts_endpoint, "http://127.0.0.1:5000");
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let f = file("[server]\nlisten = \"127.0.0.1:9000\"\nlisen = 1\n");
    let error = Config::load_from(Some(f.path()), no_env(), &Overrides::default()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("unknown key `server.lisen`"), "{message}");
    assert!(error.is_config());

    let f = file("[stroe]\nurl = \"x\"\n");
    let message = Config::load_from(Some(f.path()), no_env(), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("stroe"), "{message}");
}

#[test]
fn errors_name_the_key_but_never_the_value() {
    let f = file("[admin]\ntoken = 1234567890123456789\n");
    let message = Config::load_from(Some(f.path()), no_env(), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("admin.token"), "{message}");
    assert!(!message.contains("1234567890123456789"), "{message}");

    let f = file("[session]\ncache_ttl = \"soon-ish-secret\"\n");
    let message = Config::load_from(Some(f.path()), no_env(), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("session.cache_ttl"), "{message}");
    assert!(!message.contains("soon-ish-secret"), "{message}");
}

#[test]
fn overrides_win_over_the_file() {
    let f = file("[server]\nlisten = \"127.0.0.1:9000\"\n[store]\nurl = \"sqlite://a.db\"\n");
    let overrides = Overrides {
        listen: Some("127.0.0.1:9100".parse().unwrap()),
        store_url: Some("sqlite://b.db".into()),
        ..Overrides::default()
    };
    let config = Config::load_from(Some(f.path()), no_env(), &overrides).unwrap();
    assert_eq!(config.server.listen.port(), 9100);
    assert_eq!(config.store.url, "sqlite://b.db");
}

#[test]
fn inconsistent_values_are_refused() {
    for (toml, key) in [
        (
            "[server]\nlisten = \"127.0.0.1:9\"\nadmin_listen = \"127.0.0.1:9\"\n",
            "admin_listen",
        ),
        (
            "[server]\npublic_base_domain = \".bad\"\n",
            "public_base_domain",
        ),
        (
            "[limits]\nheader_read_timeout = \"0s\"\n",
            "header_read_timeout",
        ),
        ("[store]\nurl = \"mysql://x\"\n", "store.url"),
        (
            "[admin]\ntoken = \"x\"\ntoken_file = \"/y\"\n",
            "admin.token",
        ),
        ("[log]\nformat = \"xml\"\n", "log.format"),
    ] {
        let f = file(toml);
        let message = Config::load_from(Some(f.path()), no_env(), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains(key), "{toml}: {message}");
    }
}

#[test]
fn a_missing_file_is_an_error() {
    let error = Config::load_from(
        Some(Path::new("/nonexistent/credless.toml")),
        no_env(),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("/nonexistent/credless.toml"));
}

#[test]
fn debug_output_hides_secrets() {
    let mut config = Config::default();
    config.admin.token = Some("super-secret-admin-token".into());
    config.store.url = "postgres://credless:hunter2@db/credless".into();
    let shown = format!("{config:?}");
    assert!(!shown.contains("super-secret-admin-token"));
    assert!(!shown.contains("hunter2"));
    assert!(shown.contains("postgres://credless:<redacted>@db/credless"));
}

#[test]
#[allow(
    clippy::result_large_err,
    reason = "figment's Jail API returns its own error type"
)]
fn the_environment_wins_over_the_file_and_flags_win_over_both() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "credless.toml",
            "[store]\nurl = \"sqlite://file.db\"\n[session]\nproxy_timeout = \"1s\"\n",
        )?;
        jail.set_env("CREDLESS_STORE__URL", "sqlite://env.db");
        jail.set_env("CREDLESS_SESSION__PROXY_TIMEOUT", "7s");
        jail.set_env("CREDLESS_SERVER__TRUSTED_PROXIES", "[\"10.0.0.0/8\"]");
        let path = Path::new("credless.toml");
        let config = Config::load(Some(path), &Overrides::default()).unwrap();
        assert_eq!(config.store.url, "sqlite://env.db");
        assert_eq!(config.session.proxy_timeout, Duration::from_secs(7));
        assert_eq!(config.server.trusted_proxies.len(), 1);

        let flags = Overrides {
            store_url: Some("sqlite://flag.db".into()),
            ..Overrides::default()
        };
        let config = Config::load(Some(path), &flags).unwrap();
        assert_eq!(config.store.url, "sqlite://flag.db");

        jail.set_env("CREDLESS_SERVER__NOPE", "1");
        let message = Config::load(Some(path), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("server.nope"), "{message}");
        Ok(())
    });
}
