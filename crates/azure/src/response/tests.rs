#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use serde_json::{Value, json};

use super::*;

fn entra_error(code: u64, error: &str, text: &str) -> Vec<u8> {
    json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {text}\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\n\
             Correlation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\n\
             Timestamp: 2026-01-01 00:00:00Z"
        ),
        "error_codes": [code],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
        "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
    })
    .to_string()
    .into_bytes()
}

fn account() -> AzureAccount {
    serde_json::from_value(
        json!({"id": "dev-azure", "tenant_id": "dir", "client_id": "app",
        "subscription_id": "sub", "resource_group": "dev", "region": "westeurope"}),
    )
    .unwrap()
}

#[test]
fn each_code_is_classified_by_number_not_text() {
    let cases = [
        (700213, "invalid_client", "TrustRefused"),
        (700212, "invalid_client", "TrustRefused"),
        (700211, "invalid_client", "TrustRefused"),
        (70021, "invalid_client", "TrustRefused"),
        (700016, "unauthorized_client", "Misconfigured"),
        (90002, "invalid_request", "Misconfigured"),
        (900023, "invalid_request", "Misconfigured"),
        (1002012, "invalid_scope", "Misconfigured"),
        (50027, "invalid_request", "TokenRejected"),
        (50013, "invalid_client", "TokenRejected"),
        (700024, "invalid_client", "TokenRejected"),
        (700027, "invalid_client", "TokenRejected"),
    ];
    for (code, error, expected) in cases {
        let classified = classify_error(400, None, &entra_error(code, error, "some words"));
        let variant = format!("{classified:?}");
        assert!(variant.starts_with(expected), "AADSTS{code}: {variant}");
        assert_eq!(
            classified.cloud_code(),
            Some(format!("AADSTS{code}").as_str())
        );
        assert!(!classified.is_transient(), "AADSTS{code}");
    }
}

#[test]
fn the_message_is_the_first_line_without_the_code_or_trace_ids() {
    let body = entra_error(
        700213,
        "invalid_client",
        "No matching federated identity record.",
    );

    let error = classify_error(400, None, &body);

    assert_eq!(
        error.cloud_message(),
        Some("No matching federated identity record.")
    );
    assert!(!error.to_string().contains("Trace ID"), "{error}");
}

#[test]
fn a_long_message_is_cut() {
    let body = entra_error(700213, "invalid_client", &"x".repeat(5000));

    let error = classify_error(400, None, &body);

    let message = error.cloud_message().unwrap();
    assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1);
    assert!(message.ends_with('…'));
}

#[test]
fn aadsts70021_says_that_a_new_credential_takes_time_to_propagate() {
    let body = entra_error(
        70021,
        "invalid_client",
        "No matching federated identity record.",
    );

    let error = classify_error(400, None, &body);

    assert!(error.cloud_message().unwrap().contains("propagate"));
}

#[test]
fn an_unknown_code_falls_back_to_the_oauth_error() {
    let refused = classify_error(400, None, &entra_error(7_777_777, "invalid_client", "new"));
    let unknown = classify_error(400, None, &entra_error(7_777_777, "mystery", "new"));

    assert!(matches!(refused, ExchangeError::TrustRefused { .. }));
    assert_eq!(refused.cloud_code(), Some("AADSTS7777777"));
    assert!(matches!(
        unknown,
        ExchangeError::Unavailable {
            transient: false,
            ..
        }
    ));
}

#[test]
fn throttling_keeps_retry_after() {
    let wait = Some(Duration::from_secs(7));

    let throttled = classify_error(429, wait, &entra_error(90055, "invalid_request", "slow"));
    let bare = classify_error(429, None, b"");

    assert!(matches!(
        throttled,
        ExchangeError::Throttled { retry_after, .. } if retry_after == wait
    ));
    assert_eq!(throttled.cloud_code(), Some("AADSTS90055"));
    assert!(matches!(bare, ExchangeError::Throttled { .. }));
    assert!(bare.is_transient());
}

#[test]
fn server_errors_and_garbage_are_unavailable() {
    let failed = classify_error(503, None, &entra_error(50000, "server_error", "oops"));
    let html = classify_error(400, None, b"<html>gateway</html>");

    assert!(failed.is_transient());
    assert_eq!(failed.cloud_code(), Some("AADSTS50000"));
    assert!(matches!(
        html,
        ExchangeError::Unavailable {
            cloud_code: None,
            ..
        }
    ));
    assert!(html.to_string().contains("unreadable"), "{html}");
}

#[test]
fn a_token_response_gives_the_token_and_its_expiry() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let body = json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
        "access_token": "opaque-token"});

    let token = parse_success(body.to_string().as_bytes(), &account(), now).unwrap();

    assert_eq!(token.token.expose(), "opaque-token");
    assert_eq!(token.expires_at, now + Duration::from_secs(3599));
    assert_eq!(token.cloud_identity, "app app in directory dir");
}

#[test]
fn an_unusable_token_response_is_unavailable() {
    let now = SystemTime::now();
    let bodies: [Value; 4] = [
        json!({"token_type": "Bearer", "expires_in": "3600", "access_token": ""}),
        json!({"token_type": "mac", "expires_in": 3600, "access_token": "t"}),
        json!({"token_type": "Bearer", "expires_in": 0, "access_token": "t"}),
        json!({"token_type": "Bearer", "access_token": "t"}),
    ];
    for body in bodies {
        let error = parse_success(body.to_string().as_bytes(), &account(), now).unwrap_err();
        assert!(matches!(error, ExchangeError::Unavailable { .. }), "{body}");
    }
    let text = json!({"token_type": "bearer", "expires_in": "60", "access_token": "t"});
    assert!(parse_success(text.to_string().as_bytes(), &account(), now).is_ok());
}
