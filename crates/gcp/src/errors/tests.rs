use super::*;

fn sts(status: u16, error: &str, description: &str) -> ExchangeError {
    let body = serde_json::json!({"error": error, "error_description": description});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    from_response(Service::Sts, status, None, body.to_string().as_bytes())
}

fn iam(code: u16, status: &str, retry_after: Option<Duration>) -> ExchangeError {
    let body = serde_json::json!({"error": {"code": code, "message": "m", "status": status}});
    let http = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    from_response(
        Service::IamCredentials,
        http,
        retry_after,
        body.to_string().as_bytes(),
    )
}

#[test]
fn invalid_grant_is_split_between_trust_setup_and_the_token() {
    let audience = sts(
        400,
        "invalid_grant",
        "The audience in ID Token [x] does not match",
    );
    let condition = sts(400, "invalid_grant", "Rejected by the attribute condition.");
    let signature = sts(400, "invalid_grant", "Invalid ID Token signature.");
    let expired = sts(400, "invalid_grant", "The ID Token has expired.");

    assert!(
        matches!(audience, ExchangeError::TrustRefused { .. }),
        "{audience:?}"
    );
    assert!(
        matches!(condition, ExchangeError::TrustRefused { .. }),
        "{condition:?}"
    );
    assert!(
        matches!(signature, ExchangeError::TokenRejected { .. }),
        "{signature:?}"
    );
    assert!(
        matches!(expired, ExchangeError::TokenRejected { .. }),
        "{expired:?}"
    );
    assert_eq!(expired.cloud_code(), Some("invalid_grant"));
    assert_eq!(expired.cloud_message(), Some("The ID Token has expired."));
}

#[test]
fn sts_codes_map_to_what_the_caller_can_do() {
    let target = sts(
        400,
        "invalid_target",
        "The target service indicated by the audience",
    );
    let request = sts(
        400,
        "invalid_request",
        "Invalid value for subject_token_type",
    );
    let client = sts(
        400,
        "unauthorized_client",
        "The given credential is rejected",
    );

    assert!(
        matches!(target, ExchangeError::Misconfigured { .. }),
        "{target:?}"
    );
    assert_eq!(target.cloud_code(), Some("invalid_target"));
    assert!(
        target.to_string().contains("The target service"),
        "{target}"
    );
    assert!(
        matches!(request, ExchangeError::Misconfigured { .. }),
        "{request:?}"
    );
    assert!(
        matches!(client, ExchangeError::TrustRefused { .. }),
        "{client:?}"
    );
}

#[test]
fn iam_statuses_map_to_what_the_caller_can_do() {
    let wait = Some(Duration::from_secs(7));
    let denied = iam(403, "PERMISSION_DENIED", None);
    let missing = iam(404, "NOT_FOUND", None);
    let unauthenticated = iam(401, "UNAUTHENTICATED", None);
    let throttled = iam(429, "RESOURCE_EXHAUSTED", wait);
    let down = iam(503, "UNAVAILABLE", None);

    assert!(
        matches!(denied, ExchangeError::TrustRefused { .. }),
        "{denied:?}"
    );
    assert_eq!(denied.cloud_code(), Some("PERMISSION_DENIED"));
    assert!(
        matches!(missing, ExchangeError::Misconfigured { .. }),
        "{missing:?}"
    );
    assert!(matches!(
        unauthenticated,
        ExchangeError::TokenRejected { .. }
    ));
    assert!(
        matches!(throttled, ExchangeError::Throttled { retry_after, .. } if retry_after == wait)
    );
    assert!(
        matches!(
            down,
            ExchangeError::Unavailable {
                transient: true,
                ..
            }
        ),
        "{down:?}"
    );
}

#[test]
fn a_body_that_is_no_error_document_is_classified_by_status() {
    let gateway = from_response(Service::Sts, StatusCode::BAD_GATEWAY, None, b"<html>");
    let forbidden = from_response(Service::IamCredentials, StatusCode::FORBIDDEN, None, b"");
    let teapot = from_response(Service::Sts, StatusCode::IM_A_TEAPOT, None, b"{}");

    assert!(gateway.is_transient(), "{gateway:?}");
    assert_eq!(gateway.cloud_code(), Some("502"));
    assert!(
        matches!(forbidden, ExchangeError::TrustRefused { .. }),
        "{forbidden:?}"
    );
    assert!(matches!(
        teapot,
        ExchangeError::Unavailable {
            transient: false,
            ..
        }
    ));
}

#[test]
fn long_messages_are_cut() {
    let error = sts(400, "invalid_grant", &"x".repeat(5000));
    let message = error.cloud_message().unwrap_or_default();
    assert!(
        message.chars().count() <= MAX_MESSAGE_CHARS + 1,
        "{}",
        message.len()
    );
}
