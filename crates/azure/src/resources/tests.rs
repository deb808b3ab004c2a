#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::time::Duration;

use credless_resources::{ResourceError, State};
use reqwest::StatusCode;

use super::{AzureResources, AzureResourcesConfig, arm, check_name, database, vm};

#[test]
fn vm_states_follow_the_documented_table() {
    let cases = [
        ("Creating", Some("starting"), State::Pending),
        ("Creating", None, State::Pending),
        ("Succeeded", Some("running"), State::Running),
        ("Updating", Some("starting"), State::Pending),
        ("Updating", Some("deallocating"), State::Stopping),
        ("Succeeded", Some("stopping"), State::Stopping),
        ("Succeeded", Some("stopped"), State::Stopped),
        ("Succeeded", Some("deallocated"), State::Stopped),
        ("Deleting", Some("running"), State::Deleting),
        ("Failed", Some("running"), State::Error),
        ("Succeeded", None, State::Pending),
        ("Migrating", Some("unknown"), State::Unknown),
    ];
    for (provisioning, power, expected) in cases {
        assert_eq!(
            vm::state(provisioning, power),
            expected,
            "{provisioning} {power:?}"
        );
    }
}

#[test]
fn database_states_and_sizes_follow_the_documented_tables() {
    let states = [
        ("Ready", State::Running),
        ("Provisioning", State::Pending),
        ("Starting", State::Pending),
        ("Updating", State::Pending),
        ("Stopping", State::Stopping),
        ("Stopped", State::Stopped),
        ("Dropping", State::Deleting),
        ("Disabled", State::Error),
        ("Restarting", State::Unknown),
    ];
    for (native, expected) in states {
        assert_eq!(database::state(native), expected, "{native}");
    }
    assert_eq!(
        database::native_sku("small"),
        ("Standard_B1ms".into(), "Burstable")
    );
    assert_eq!(
        database::native_sku("medium"),
        ("Standard_D2ds_v5".into(), "GeneralPurpose")
    );
    assert_eq!(
        database::native_sku("large"),
        ("Standard_D4ds_v5".into(), "GeneralPurpose")
    );
    assert_eq!(
        database::native_sku("Standard_E2ds_v5").1,
        "MemoryOptimized"
    );
    assert_eq!(vm::native_size("small"), "Standard_B2s");
    assert_eq!(vm::native_size("medium"), "Standard_D2s_v5");
    assert_eq!(vm::native_size("large"), "Standard_D4s_v5");
    assert_eq!(vm::native_size("Standard_F2s_v2"), "Standard_F2s_v2");
}

fn classify(status: u16, body: &str) -> ResourceError {
    let status = StatusCode::from_u16(status).unwrap();
    arm::classify(
        status,
        Some(Duration::from_secs(7)),
        body.as_bytes(),
        "web-1",
    )
}

#[test]
fn arm_refusals_are_classified_by_status_and_code() {
    let error = |code: &str, message: &str| {
        format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#)
    };

    let quota = classify(
        409,
        &error("OperationNotAllowed", "exceeding approved Cores quota"),
    );
    assert!(matches!(quota, ResourceError::Quota { ref cloud_code, .. }
        if cloud_code == "OperationNotAllowed"));
    let conflict = classify(409, &error("OperationNotAllowed", "VM is being deleted"));
    assert!(matches!(conflict, ResourceError::Conflict { .. }));
    let denied = classify(403, &error("AuthorizationFailed", "no authorization"));
    assert!(matches!(denied, ResourceError::Denied { .. }));
    let invalid = classify(
        400,
        &error("InvalidParameter", "bad value. Target: 'vmSize'."),
    );
    assert!(matches!(invalid, ResourceError::Invalid { ref field, .. } if field == "size"));
    let image = r#"{"error":{"code":"InvalidParameter","target":"imageReference","message":"x"}}"#;
    let image = classify(400, image);
    assert!(matches!(image, ResourceError::Invalid { ref field, .. } if field == "image"));
    let throttled = classify(429, &error("TooManyRequests", "slow down"));
    assert!(
        matches!(throttled, ResourceError::Throttled { retry_after: Some(wait), .. }
        if wait == Duration::from_secs(7))
    );
    assert!(matches!(
        classify(404, "{}"),
        ResourceError::NotFound { .. }
    ));
    let garbage = classify(502, "<html>bad gateway</html>");
    assert!(matches!(
        garbage,
        ResourceError::Unavailable {
            cloud_code: None,
            ..
        }
    ));
}

#[test]
fn names_must_be_dns_labels() {
    for good in ["web-1", "a", "orders"] {
        assert!(check_name(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "1web",
        "Web",
        "web-",
        "a/../b",
        "web_1",
        &"a".repeat(64),
    ] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_endpoint_must_be_a_bare_https_origin() {
    let config = |endpoint: &str, insecure: bool| AzureResourcesConfig {
        management_endpoint: endpoint.to_owned(),
        allow_insecure_upstreams: insecure,
        ..AzureResourcesConfig::default()
    };
    assert!(AzureResources::new(&AzureResourcesConfig::default()).is_ok());
    assert!(AzureResources::new(&config("http://management.azure.com", false)).is_err());
    assert!(AzureResources::new(&config("https://management.azure.com/x", false)).is_err());
    assert!(AzureResources::new(&config("http://127.0.0.1:1", true)).is_ok());
}
