//! What an administrator configures in AWS so that it trusts a tenant's ID tokens: an IAM
//! OIDC identity provider for the tenant's issuer, and a role trust policy whose conditions
//! pin the audience and the subjects allowed.

use credless_registry::{AwsAccount, Oidc};
use serde::Serialize;
use serde_json::{Value, json};

/// The trust setup of one AWS account, as policy documents and `aws` commands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustGuidance {
    /// The IAM OIDC provider's ARN the role trusts.
    pub oidc_provider_arn: String,
    /// `aws iam create-open-id-connect-provider …` registering the tenant's issuer.
    pub oidc_provider_command: String,
    /// The role's trust policy.
    pub trust_policy: Value,
    /// `aws iam update-assume-role-policy …` applying it (the policy saved as `trust.json`).
    pub trust_policy_command: String,
    /// What AWS enforces and what follows from it, one sentence each.
    pub notes: Vec<String>,
}

/// The trust setup that lets `subjects` of the tenant with `oidc` assume the account's role.
///
/// Pure: it calls nothing and can be shown before anything is configured. With no subjects the
/// policy trusts every user of the issuer with the right audience, and a note says so.
pub fn trust_guidance(oidc: &Oidc, account: &AwsAccount, subjects: &[&str]) -> TrustGuidance {
    let (partition, account_id, role_name) = role_parts(&account.role_arn);
    let issuer_path = oidc
        .issuer
        .split_once("://")
        .map_or(oidc.issuer.as_str(), |(_, rest)| rest);
    let issuer_path = issuer_path.trim_end_matches('/');
    let provider_arn = format!("arn:{partition}:iam::{account_id}:oidc-provider/{issuer_path}");
    let audiences = if oidc.audiences.is_empty() {
        vec!["<the client id your identity provider puts in aud>".to_owned()]
    } else {
        oidc.audiences.clone()
    };

    let mut conditions = json!({ "StringEquals": { format!("{issuer_path}:aud"): audiences } });
    if !subjects.is_empty() {
        conditions["StringEquals"][format!("{issuer_path}:sub")] = json!(subjects);
    }
    let trust_policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
            "Condition": conditions,
        }],
    });

    let mut notes = vec![
        "The role session is named after the user's email (or sub), so CloudTrail shows who \
         acted."
            .to_owned(),
        "STS request quotas cannot be raised; Credless caches credentials until shortly \
         before they expire."
            .to_owned(),
        "The role's maximum session duration caps how long credentials last (default 1 hour)."
            .to_owned(),
    ];
    if subjects.is_empty() {
        notes.push(
            "Without a sub condition every user of the issuer with this audience can assume \
             the role; add the subjects allowed to narrow it."
                .to_owned(),
        );
    }
    TrustGuidance {
        oidc_provider_command: format!(
            "aws iam create-open-id-connect-provider --url {} --client-id-list {}",
            oidc.issuer.trim_end_matches('/'),
            audiences.join(" ")
        ),
        trust_policy_command: format!(
            "aws iam update-assume-role-policy --role-name {role_name} \
             --policy-document file://trust.json"
        ),
        oidc_provider_arn: provider_arn,
        trust_policy,
        notes,
    }
}

/// `arn:aws:iam::123456789012:role/path/name` → (`aws`, `123456789012`, `name`).
fn role_parts(role_arn: &str) -> (&str, &str, &str) {
    let mut fields = role_arn.splitn(6, ':');
    let partition = fields.nth(1).unwrap_or("aws");
    let account = fields.nth(2).unwrap_or_default();
    let resource = fields.next().unwrap_or_default();
    let name = resource.rsplit('/').next().unwrap_or_default();
    (partition, account, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AwsAccount {
        serde_json::from_value(json!({
            "id": "prod-aws",
            "role_arn": "arn:aws:iam::123456789012:role/teams/credless",
            "region": "us-east-1"
        }))
        .expect("account")
    }

    #[test]
    fn policy_pins_audience_and_subjects_to_the_tenants_issuer() {
        let oidc = Oidc {
            issuer: "https://id.acme.example/".into(),
            audiences: vec!["app".into()],
        };
        let guidance = trust_guidance(&oidc, &account(), &["user-1"]);
        assert_eq!(
            guidance.oidc_provider_arn,
            "arn:aws:iam::123456789012:oidc-provider/id.acme.example"
        );
        let condition = &guidance.trust_policy["Statement"][0]["Condition"]["StringEquals"];
        assert_eq!(condition["id.acme.example:aud"], json!(["app"]));
        assert_eq!(condition["id.acme.example:sub"], json!(["user-1"]));
        assert!(
            guidance
                .trust_policy_command
                .contains("--role-name credless")
        );
        assert!(
            guidance
                .oidc_provider_command
                .contains("--url https://id.acme.example ")
        );
    }

    #[test]
    fn without_subjects_the_policy_says_it_trusts_everyone_of_the_issuer() {
        let oidc = Oidc {
            issuer: "https://id.acme.example".into(),
            audiences: vec!["app".into()],
        };
        let guidance = trust_guidance(&oidc, &account(), &[]);
        let condition = &guidance.trust_policy["Statement"][0]["Condition"]["StringEquals"];
        assert!(condition.get("id.acme.example:sub").is_none());
        assert!(guidance.notes.iter().any(|n| n.contains("every user")));
    }
}
