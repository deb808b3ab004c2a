#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use super::*;

#[test]
fn only_the_tenants_cookies_are_forwarded() {
    let mut headers = HeaderMap::new();
    headers.append(
        header::COOKIE,
        "_oauth2_proxy_1=b; other=x; _oauth2_proxy=a; _oauth2_proxyx=no"
            .parse()
            .unwrap(),
    );
    headers.append(
        header::COOKIE,
        "_oauth2_proxy_csrf=c; _oauth2_proxy_=no; session=y"
            .parse()
            .unwrap(),
    );
    assert_eq!(
        tenant_cookies(&headers, "_oauth2_proxy").as_deref(),
        Some("_oauth2_proxy_1=b; _oauth2_proxy=a; _oauth2_proxy_csrf=c")
    );
    assert_eq!(tenant_cookies(&headers, "_acme"), None);
}

#[test]
fn return_paths_must_stay_on_this_host() {
    for good in ["/", "/portal", "/api/v1/me?x=1", "/a/b.c/d"] {
        assert!(is_safe_return_path(good), "{good}");
    }
    for bad in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "/%2f/evil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/a/../../evil",
        "/a/%2e%2e/evil",
        "/ evil",
        "/\tevil",
        "/%09/evil.example",
        "javascript:alert(1)",
        "",
    ] {
        assert!(!is_safe_return_path(bad), "{bad}");
    }
}

#[test]
fn cookies_covering_other_tenants_become_host_only() {
    let cookie = |v: &str| HeaderValue::from_str(v).unwrap();
    let confined = confine_cookie(
        &cookie("_oauth2_proxy=v; Path=/; Domain=.credless.example.com; Secure"),
        "credless.example.com",
    )
    .unwrap();
    assert_eq!(
        confined.to_str().unwrap(),
        "_oauth2_proxy=v; Path=/; Secure"
    );

    let above = confine_cookie(&cookie("s=v; domain=example.com"), "credless.example.com").unwrap();
    assert_eq!(above.to_str().unwrap(), "s=v");

    let own = cookie("s=v; Domain=acme.example; HttpOnly");
    assert_eq!(confine_cookie(&own, "credless.example.com").unwrap(), own);
    let tenant_sub = cookie("s=v; Domain=acme.credless.example.com");
    assert_eq!(
        confine_cookie(&tenant_sub, "credless.example.com").unwrap(),
        tenant_sub
    );
}
