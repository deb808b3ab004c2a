//! The operator API over real sockets: statuses, validation and problem bodies.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use serde_json::{Value, json};
use support::{TOKEN, TestGateway, problem, tenant};

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401() {
    let gw = TestGateway::start().await;
    let url = gw.admin("/admin/v1/tenants");

    let (status, body) = problem(gw.http.get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("token_invalid"))
    );

    let wrong = gw
        .http
        .get(&url)
        .bearer_auth("test-admin-token-0123456780")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    assert_eq!(problem(wrong).await.0, 401);

    // The token is checked before the path is looked at.
    let unknown = gw
        .http
        .get(gw.admin("/admin/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
}

#[tokio::test]
async fn tenants_are_created_read_replaced_listed_and_removed() {
    let gw = TestGateway::start().await;

    let created = gw
        .create_tenant(&tenant("acme", &["Cloud.Acme.Example."]))
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/admin/v1/tenants/acme");
    let body: Value = created.json().await.unwrap();
    assert_eq!(
        body["hostnames"],
        json!(["cloud.acme.example"]),
        "hostnames are normalised"
    );
    assert_eq!(body["cookie_name"], "_oauth2_proxy", "cookie_name defaults");

    let url = gw.admin("/admin/v1/tenants/acme");
    let read: Value = gw
        .http
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read, body);

    let mut replacement = tenant("acme", &["portal.acme.example"]);
    replacement["admin_groups"] = json!(["platform-admins"]);
    let replaced = gw
        .http
        .put(&url)
        .bearer_auth(TOKEN)
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["hostnames"], json!(["portal.acme.example"]));
    assert_eq!(replaced["admin_groups"], json!(["platform-admins"]));

    let list: Value = gw
        .http
        .get(gw.admin("/admin/v1/tenants"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["tenants"].as_array().unwrap().len(), 1);

    let deleted = gw
        .http
        .delete(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, body) = problem(gw.http.get(&url).bearer_auth(TOKEN).send().await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let again = gw
        .http
        .delete(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(again).await.0, 404);
}

#[tokio::test]
async fn taken_ids_and_hostnames_get_409() {
    let gw = TestGateway::start().await;
    assert_eq!(
        gw.create_tenant(&tenant("acme", &["cloud.acme.example"]))
            .await
            .status(),
        201
    );

    let (status, body) = problem(gw.create_tenant(&tenant("acme", &[])).await).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));

    let stolen = gw
        .create_tenant(&tenant(
            "other",
            &["www.other.example", "CLOUD.acme.example"],
        ))
        .await;
    let (status, body) = problem(stolen).await;
    assert_eq!(status, 409);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("cloud.acme.example"),
        "{body}"
    );

    // Nothing of the refused tenant was kept.
    let other = gw
        .http
        .get(gw.admin("/admin/v1/tenants/other"))
        .bearer_auth(TOKEN)
        .send()
        .await;
    assert_eq!(other.unwrap().status(), 404);
    let www = gw.get_host("www.other.example", "/").await;
    assert_eq!(problem(www).await.1["code"], "unknown_host");
}

#[tokio::test]
async fn bad_tenant_documents_get_400_naming_the_field() {
    let gw = TestGateway::start().await;
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let base = tenant("acme", &["cloud.acme.example"]);
    let with = |pointer: &str, value: Value| {
        let mut doc = base.clone();
        *doc.pointer_mut(pointer).unwrap() = value;
        doc
    };
    cases.push((with("/id", json!("Acme")), "id"));
    cases.push((with("/id", json!(42)), "id"));
    cases.push((with("/admin_email", json!("not-an-email")), "admin_email"));
    cases.push((
        with("/hostnames", json!(["ok.example", "bad host"])),
        "hostnames[1]",
    ));
    cases.push((
        with("/hostnames", json!(["x.credless.test"])),
        "hostnames[0]",
    ));
    cases.push((
        with("/proxy_url", json!("http://auth.acme.example")),
        "proxy_url",
    ));
    cases.push((
        with("/proxy_url", json!("https://169.254.169.254/")),
        "proxy_url",
    ));
    cases.push((
        with("/oidc/issuer", json!("https://10.0.0.1/")),
        "oidc.issuer",
    ));
    cases.push((with("/oidc/audiences", json!([])), "oidc.audiences"));
    let mut unknown = base.clone();
    unknown["oidc"]["client_secret"] = json!("x");
    cases.push((unknown, "oidc"));

    for (doc, field) in cases {
        let (status, body) = problem(gw.create_tenant(&doc).await).await;
        assert_eq!(status, 400, "{doc}");
        assert_eq!(body["code"], "invalid_request");
        assert!(
            body["field"].as_str().is_some_and(|f| f.starts_with(field)),
            "expected field {field}, got {body}"
        );
    }

    let garbage = gw
        .http
        .post(gw.admin("/admin/v1/tenants"))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(garbage).await.1["code"], "invalid_request");
}

#[tokio::test]
async fn replacing_under_another_id_is_refused() {
    let gw = TestGateway::start().await;
    gw.create_tenant(&tenant("acme", &[])).await;
    let put = gw
        .http
        .put(gw.admin("/admin/v1/tenants/acme"))
        .bearer_auth(TOKEN)
        .json(&tenant("other", &[]))
        .send()
        .await
        .unwrap();
    let (status, body) = problem(put).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("id")));

    let missing = gw
        .http
        .put(gw.admin("/admin/v1/tenants/ghost"))
        .bearer_auth(TOKEN)
        .json(&tenant("ghost", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(missing).await.0, 404);
}

#[tokio::test]
async fn unsupported_methods_get_405_with_allow() {
    let gw = TestGateway::start().await;
    let patch = gw
        .http
        .patch(gw.admin("/admin/v1/tenants"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(patch.headers()["allow"], "GET, POST");
    assert_eq!(problem(patch).await.0, 405);
}

#[tokio::test]
async fn health_readiness_and_metrics_need_no_token() {
    let gw = TestGateway::start().await;
    assert_eq!(
        gw.http
            .get(gw.admin("/livez"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        gw.http
            .get(gw.admin("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    gw.create_tenant(&tenant("acme", &[])).await;

    let metrics = gw
        .http
        .get(gw.admin("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(concat!(
            r#"credless_http_requests_total{listener="admin",route="/admin/v1/tenants","#,
            r#"method="POST",status="201"} 1"#
        )),
        "{metrics}"
    );
    assert!(metrics.contains("credless_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("credless_tenants 1"));

    // Operator endpoints are not served on the public listener.
    let public = gw
        .http
        .get(gw.public("/metrics"))
        .header("host", "acme.credless.test")
        .send();
    let (status, body) = problem(public.await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("login_required"))
    );
}
