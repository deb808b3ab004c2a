#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use serde_json::{Value, json};

use super::*;

fn oidc() -> Oidc {
    Oidc {
        issuer: "https://id.acme.example/".to_owned(),
        audiences: vec!["credless-client-id".to_owned(), "other".to_owned()],
    }
}

fn account() -> AzureAccount {
    serde_json::from_value(json!({"id": "dev-azure",
        "tenant_id": "00000000-0000-0000-0000-000000000001",
        "client_id": "00000000-0000-0000-0000-000000000002",
        "subscription_id": "00000000-0000-0000-0000-000000000003",
        "resource_group": "dev", "region": "westeurope"}))
    .unwrap()
}

/// The `--parameters` JSON of a command, unquoted as a shell would.
fn parameters(command: &str) -> Value {
    let quoted = command.split_once("--parameters ").unwrap().1;
    let unquoted = quoted
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap()
        .replace(r"'\''", "'");
    serde_json::from_str(&unquoted).unwrap()
}

#[test]
fn the_federated_credential_names_the_issuer_the_user_and_the_first_audience() {
    let guidance = trust_guidance(&oidc(), &account(), "user-1");

    assert_eq!(
        serde_json::to_value(&guidance.federated_credential).unwrap(),
        json!({
            "name": "credless-user-1",
            "issuer": "https://id.acme.example/",
            "subject": "user-1",
            "description": "Credless: user user-1",
            "audiences": ["credless-client-id"],
        })
    );
}

#[test]
fn the_commands_create_the_credential_and_assign_the_role() {
    let guidance = trust_guidance(&oidc(), &account(), "user-1");

    assert!(guidance.federated_credential_command.starts_with(
        "az ad app federated-credential create --id 00000000-0000-0000-0000-000000000002 \
         --parameters '"
    ));
    assert_eq!(
        parameters(&guidance.federated_credential_command),
        serde_json::to_value(&guidance.federated_credential).unwrap()
    );
    assert_eq!(
        guidance.role_assignment_command,
        "az role assignment create --assignee 00000000-0000-0000-0000-000000000002 \
         --role Contributor --scope /subscriptions/00000000-0000-0000-0000-000000000003/\
         resourceGroups/dev"
    );
}

#[test]
fn the_per_user_command_leaves_the_subject_and_name_to_fill_in() {
    let guidance = trust_guidance(&oidc(), &account(), "user-1");

    let template = parameters(&guidance.per_user_command);

    assert_eq!(template["subject"], "<SUBJECT>");
    assert_eq!(template["name"], "<NAME>");
    assert_eq!(template["issuer"], "https://id.acme.example/");
    assert!(!guidance.per_user_command.contains("user-1"));
}

#[test]
fn a_subject_with_a_quote_survives_the_shell() {
    let subject = "o'brien|42";

    let guidance = trust_guidance(&oidc(), &account(), subject);

    assert_eq!(
        parameters(&guidance.federated_credential_command)["subject"],
        subject
    );
}

#[test]
fn the_text_states_what_entra_enforces() {
    let text = trust_guidance(&oidc(), &account(), "user-1").text();

    assert!(text.contains("exactly, with no wildcards"), "{text}");
    assert!(text.contains("at most 20 federated credentials"), "{text}");
    assert!(text.contains("one federated credential per user"), "{text}");
    assert!(text.contains("For each further user"), "{text}");
    assert!(text.contains("az role assignment create"), "{text}");
    assert!(text.contains("AADSTS70021"), "{text}");
}

#[test]
fn names_are_valid_for_entra_and_differ_between_subjects() {
    let long = "x".repeat(300);
    let subjects = ["auth0|abc", "auth0.abc", "plain_sub-1", long.as_str(), "ü"];

    let names: Vec<String> = subjects.iter().map(|s| credential_name(s)).collect();

    for name in &names {
        assert!((3..=MAX_NAME_CHARS).contains(&name.len()), "{name}");
        assert!(
            name.starts_with(|c: char| c.is_ascii_alphabetic()),
            "{name}"
        );
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{name}"
        );
    }
    assert_ne!(names[0], names[1]);
    assert_eq!(names[2], "credless-plain_sub-1");
}

#[test]
fn a_tenant_without_audiences_gets_a_placeholder() {
    let oidc = Oidc {
        audiences: Vec::new(),
        ..oidc()
    };

    let guidance = trust_guidance(&oidc, &account(), "user-1");

    assert_eq!(
        guidance.federated_credential.audiences,
        [AUDIENCE_PLACEHOLDER]
    );
}
