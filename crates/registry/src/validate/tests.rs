#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use super::*;

#[track_caller]
fn table(check: fn(&str) -> Result<(), &'static str>, good: &[&str], bad: &[&str]) {
    for value in good {
        assert_eq!(check(value), Ok(()), "{value:?} should pass");
    }
    for value in bad {
        assert!(check(value).is_err(), "{value:?} should fail");
    }
}

fn tenant() -> Tenant {
    Tenant {
        id: "acme".to_owned(),
        admin_email: "ops@acme.example".to_owned(),
        hostnames: vec!["cloud.acme.example".to_owned()],
        proxy_url: "https://auth.acme.example".to_owned(),
        cookie_name: "_oauth2_proxy".to_owned(),
        oidc: Oidc {
            issuer: "https://id.acme.example/".to_owned(),
            audiences: vec!["credless".to_owned()],
        },
        admin_groups: vec![],
    }
}

fn policy() -> Policy {
    Policy {
        public_base_domain: "Credless.Example.com.".to_owned(),
        ..Policy::default()
    }
}

#[track_caller]
fn invalid_field(tenant: &mut Tenant, policy: &Policy) -> String {
    match tenant.normalize_and_validate(policy) {
        Err(RegistryError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn ids() {
    table(
        check_id,
        &["a", "0", "acme", "acme-2", "9lives", &"a".repeat(63)],
        &[
            "",
            "-acme",
            "Acme",
            "ac_me",
            "ac.me",
            "acmé",
            " acme",
            &"a".repeat(64),
        ],
    );
}

#[test]
fn dns_names() {
    table(
        check_dns_name,
        &[
            "localhost",
            "cloud.acme.example",
            "a-b.c0",
            "xn--bcher-kva.example",
        ],
        &[
            "",
            "-a.example",
            "a-.example",
            "a..example",
            ".example",
            "*.acme.example",
            "a_b.example",
            "acme.example:443",
            "127.0.0.1",
            "::1",
            "a b.example",
            &format!("{}.example", "a".repeat(64)),
            &vec!["abcdefghi"; 26].join("."),
        ],
    );
}

#[test]
fn emails() {
    table(
        check_email,
        &[
            "ops@acme.example",
            "first.last+tag@sub.acme.example",
            "root@localhost",
        ],
        &[
            "",
            "ops",
            "@acme.example",
            "ops@",
            "ops@acme",
            "ops@@acme.example",
            "a@b@acme.example",
            "o ps@acme.example",
            "ops@acme.example\n",
            "ops@-acme.example",
            &format!("{}@acme.example", "a".repeat(250)),
        ],
    );
}

#[test]
fn cookie_names() {
    table(
        check_cookie_name,
        &["_oauth2_proxy", "session-1", "a!#$%&'*+.^`|~"],
        &[
            "",
            "has space",
            "semi;colon",
            "eq=",
            "quote\"",
            "tab\t",
            "ü",
            &"a".repeat(65),
        ],
    );
}

#[test]
fn upstream_urls_in_production() {
    let strict = Policy::default();
    let check = |url: &str| check_upstream_url(url, &strict);
    for good in [
        "https://auth.acme.example",
        "https://auth.acme.example:8443/prefix/",
        "https://93.184.216.34/",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/",
    ] {
        assert_eq!(check(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "auth.acme.example",
        "/relative",
        "http://auth.acme.example",
        "ftp://auth.acme.example",
        "https://user:secret@auth.acme.example",
        "https://user@auth.acme.example",
        "https://auth.acme.example/#frag",
        "https://auth.acme.example/?q=1",
        " https://auth.acme.example",
        "https://localhost/",
        "https://LOCALHOST./",
        "https://app.localhost/",
        "https://127.0.0.1/",
        "https://0x7f.1/",
        "https://10.1.2.3/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fd00:ec2::254]/",
        "https://[fe80::1]/",
        "https://[::ffff:127.0.0.1]/",
    ] {
        assert!(check(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn upstream_urls_in_development() {
    let loose = Policy {
        allow_insecure_upstreams: true,
        ..Policy::default()
    };
    for good in [
        "http://127.0.0.1:4180",
        "http://localhost:4180/",
        "https://[::1]:8443",
    ] {
        assert_eq!(check_upstream_url(good, &loose), Ok(()), "{good}");
    }
    for bad in [
        "ftp://localhost",
        "http://user:pw@localhost",
        "http://localhost/#x",
    ] {
        assert!(
            check_upstream_url(bad, &loose).is_err(),
            "{bad:?} should be refused"
        );
    }
}

#[test]
fn url_errors_never_repeat_the_value() {
    let mut bad = tenant();
    bad.proxy_url = "http://admin:hunter2@auth.acme.example".to_owned();
    let err = bad.normalize_and_validate(&Policy::default()).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().starts_with("invalid proxy_url"), "{err}");
}

#[test]
fn internal_addresses() {
    let internal = [
        "127.0.0.1",
        "127.255.0.9",
        "10.0.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "fc00::1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
    ];
    let public = [
        "8.8.8.8",
        "100.128.0.1",
        "172.32.0.1",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
    ];
    for ip in internal {
        assert!(is_internal_address(ip.parse().unwrap()), "{ip} is internal");
    }
    for ip in public {
        assert!(!is_internal_address(ip.parse().unwrap()), "{ip} is public");
    }
}

#[test]
fn a_valid_tenant_is_normalized() {
    let mut t = tenant();
    t.hostnames = vec![
        "Cloud.Acme.Example.".to_owned(),
        "acme.credless.example.com".to_owned(),
    ];
    t.normalize_and_validate(&policy()).unwrap();
    assert_eq!(
        t.hostnames,
        ["cloud.acme.example"],
        "lower-cased, own default name dropped"
    );
}

#[test]
fn hostname_rules_name_the_index() {
    let cases: [(&[&str], &str); 7] = [
        (&["cloud.acme.example", "bad_host.example"], "hostnames[1]"),
        (
            &["cloud.acme.example", "CLOUD.acme.example."],
            "hostnames[1]",
        ),
        (&["cloud.acme.example:443"], "hostnames[0]"),
        (&["10.0.0.1"], "hostnames[0]"),
        (&["*.acme.example"], "hostnames[0]"),
        (
            &["ok.example", "other.credless.example.com"],
            "hostnames[1]",
        ),
        (&["credless.example.com"], "hostnames[0]"),
    ];
    for (hostnames, expected) in cases {
        let mut t = tenant();
        t.hostnames = hostnames.iter().map(|h| (*h).to_owned()).collect();
        assert_eq!(invalid_field(&mut t, &policy()), expected, "{hostnames:?}");
    }
}

#[test]
fn every_tenant_error_names_its_field() {
    type Breaker = fn(&mut Tenant);
    let cases: [(Breaker, &str); 10] = [
        (|t| t.id = "Acme".to_owned(), "id"),
        (|t| t.id = String::new(), "id"),
        (|t| t.admin_email = "ops".to_owned(), "admin_email"),
        (
            |t| t.proxy_url = "http://auth.acme.example".to_owned(),
            "proxy_url",
        ),
        (|t| t.cookie_name = "a b".to_owned(), "cookie_name"),
        (
            |t| t.oidc.issuer = "https://10.0.0.1/".to_owned(),
            "oidc.issuer",
        ),
        (|t| t.oidc.audiences.clear(), "oidc.audiences"),
        (
            |t| t.oidc.audiences.push(String::new()),
            "oidc.audiences[1]",
        ),
        (
            |t| t.admin_groups = vec!["ok".to_owned(), " ".to_owned()],
            "admin_groups[1]",
        ),
        (
            |t| t.hostnames.push("a.localhost".to_owned()),
            "hostnames[1]",
        ),
    ];
    for (breaker, expected) in cases {
        let mut t = tenant();
        breaker(&mut t);
        assert_eq!(invalid_field(&mut t, &Policy::default()), expected);
    }
}

#[test]
fn the_policy_checks_its_base_domain() {
    assert!(policy().validate().is_ok());
    assert_eq!(
        policy().default_hostname("acme"),
        "acme.credless.example.com"
    );
    let bad = Policy {
        public_base_domain: "https://x".to_owned(),
        ..Policy::default()
    };
    assert!(bad.validate().is_err());
}
