use super::*;

fn account(groups: &[&str]) -> GcpAccount {
    GcpAccount {
        id: "data-gcp".into(),
        display_name: None,
        allowed_groups: groups.iter().map(|group| (*group).to_owned()).collect(),
        project_id: "acme-data".into(),
        project_number: "123456789".into(),
        pool_id: "credless".into(),
        provider_id: "acme-idp".into(),
        service_account: "credless@acme-data.iam.gserviceaccount.com".into(),
        region: "europe-west1".into(),
    }
}

const POOL: &str = "projects/123456789/locations/global/workloadIdentityPools/credless";

#[test]
fn commands_create_the_pool_the_provider_and_bind_everyone_of_the_pool() {
    let audiences = vec!["credless-client".to_owned(), "other".to_owned()];

    let guidance = trust_guidance("https://id.acme.example/", &audiences, &account(&[]));

    assert_eq!(
        guidance.commands[0],
        "gcloud iam workload-identity-pools create credless --project=acme-data \
         --location=global --display-name=Credless"
    );
    assert_eq!(
        guidance.commands[1],
        "gcloud iam workload-identity-pools providers create-oidc acme-idp \
         --project=acme-data --location=global --workload-identity-pool=credless \
         --issuer-uri=https://id.acme.example/ --allowed-audiences=credless-client,other \
         --attribute-mapping=google.subject=assertion.sub,google.groups=assertion.groups,\
         attribute.email=assertion.email \
         --attribute-condition='assertion.iss == \"https://id.acme.example/\"'"
    );
    assert_eq!(
        guidance.commands[2],
        format!(
            "gcloud iam service-accounts add-iam-policy-binding \
             credless@acme-data.iam.gserviceaccount.com --project=acme-data \
             --role=roles/iam.workloadIdentityUser \
             --member='principalSet://iam.googleapis.com/{POOL}/*'"
        )
    );
    assert_eq!(guidance.commands.len(), 3);
    assert_eq!(
        guidance.audience,
        format!("//iam.googleapis.com/{POOL}/providers/acme-idp")
    );
}

#[test]
fn allowed_groups_become_one_binding_each() {
    let guidance = trust_guidance("https://id.acme.example", &[], &account(&["ops", "data"]));

    assert_eq!(
        guidance.members,
        [
            format!("principalSet://iam.googleapis.com/{POOL}/group/ops"),
            format!("principalSet://iam.googleapis.com/{POOL}/group/data"),
        ]
    );
    assert_eq!(guidance.commands.len(), 4);
    assert!(
        guidance.commands[3].ends_with("/group/data"),
        "{}",
        guidance.commands[3]
    );
}

#[test]
fn single_people_are_named_by_subject_or_email() {
    assert_eq!(
        subject_member(&account(&[]), "user-1"),
        format!("principal://iam.googleapis.com/{POOL}/subject/user-1")
    );
    assert_eq!(
        email_member(&account(&[]), "a@acme.example"),
        format!("principalSet://iam.googleapis.com/{POOL}/attribute.email/a@acme.example")
    );
}

#[test]
fn quotes_in_values_cannot_break_out_of_the_condition_or_the_shell_word() {
    let issuer = r#"https://id.example/"' && true; rm -rf ~"#;

    let guidance = trust_guidance(issuer, &[], &account(&["it's"]));

    assert_eq!(
        guidance.attribute_condition,
        r#"assertion.iss == "https://id.example/\"' && true; rm -rf ~""#
    );
    assert!(
        guidance.commands[1]
            .contains(r#"--issuer-uri='https://id.example/"'\'' && true; rm -rf ~'"#),
        "{}",
        guidance.commands[1]
    );
    assert!(
        guidance.commands[2].ends_with(r"/group/it'\''s'"),
        "{}",
        guidance.commands[2]
    );
}
