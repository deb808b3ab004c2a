//! What an organisation configures in Google Cloud so that its people reach a GCP account
//! through Credless: a workload identity pool, an OIDC provider for its IdP, and who may
//! impersonate the service account.

use credless_registry::GcpAccount;
use serde::Serialize;

/// The attribute mapping Credless relies on: the token's `sub` becomes the principal, its
/// `groups` list becomes Google's groups (usable as `principalSet://…/group/<group>`), and its
/// `email` an attribute (usable as `principalSet://…/attribute.email/<email>`).
pub const ATTRIBUTE_MAPPING: &str =
    "google.subject=assertion.sub,google.groups=assertion.groups,attribute.email=assertion.email";

/// The role that lets a federated principal impersonate a service account.
pub const WORKLOAD_IDENTITY_USER: &str = "roles/iam.workloadIdentityUser";

/// The setup one GCP account needs, as values and as `gcloud` commands to run in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustGuidance {
    /// The STS audience Credless sends, naming the pool provider.
    pub audience: String,
    /// The provider's `--attribute-mapping`.
    pub attribute_mapping: String,
    /// The provider's `--attribute-condition` (CEL), binding the tenant's issuer.
    pub attribute_condition: String,
    /// The principals to grant [`WORKLOAD_IDENTITY_USER`] on the service account.
    pub members: Vec<String>,
    /// `gcloud` commands: create the pool, the provider, then one binding per member.
    pub commands: Vec<String>,
    /// What to know besides the commands.
    pub notes: Vec<String>,
}

/// The trust setup for `account`, admitting ID tokens of `issuer` issued to one of
/// `audiences`.
///
/// The members are the account's allowed groups, or, when it allows everyone, every identity
/// the pool admits (so the pool should serve this tenant only).
pub fn trust_guidance(issuer: &str, audiences: &[String], account: &GcpAccount) -> TrustGuidance {
    let attribute_condition = format!("assertion.iss == {}", cel_string(issuer));
    let members: Vec<String> = if account.allowed_groups.is_empty() {
        vec![format!(
            "principalSet://iam.googleapis.com/{}/*",
            pool_path(account)
        )]
    } else {
        account
            .allowed_groups
            .iter()
            .map(|group| group_member(account, group))
            .collect()
    };

    let project = format!("--project={}", shell_quote(&account.project_id));
    let mut commands = vec![
        format!(
            "gcloud iam workload-identity-pools create {} {project} --location=global \
             --display-name=Credless",
            shell_quote(&account.pool_id)
        ),
        format!(
            "gcloud iam workload-identity-pools providers create-oidc {} {project} \
             --location=global --workload-identity-pool={} --issuer-uri={} \
             --allowed-audiences={} --attribute-mapping={} --attribute-condition={}",
            shell_quote(&account.provider_id),
            shell_quote(&account.pool_id),
            shell_quote(issuer),
            shell_quote(&audiences.join(",")),
            shell_quote(ATTRIBUTE_MAPPING),
            shell_quote(&attribute_condition),
        ),
    ];
    commands.extend(members.iter().map(|member| {
        format!(
            "gcloud iam service-accounts add-iam-policy-binding {} {project} \
             --role={WORKLOAD_IDENTITY_USER} --member={}",
            shell_quote(&account.service_account),
            shell_quote(member)
        )
    }));

    let notes = vec![
        "Keep the attribute condition: without one the provider accepts every token its \
         issuer signs, for any application."
            .to_owned(),
        format!(
            "To admit single people instead, bind {} or {}.",
            subject_member(account, "SUBJECT"),
            email_member(account, "EMAIL")
        ),
        "Grant the service account itself the roles its work needs in the project, such as \
         roles/compute.instanceAdmin.v1 and roles/cloudsql.admin."
            .to_owned(),
        "IAM changes can take a few minutes to apply; until then exchanges are refused.".to_owned(),
    ];

    TrustGuidance {
        audience: crate::provider_audience(account),
        attribute_mapping: ATTRIBUTE_MAPPING.to_owned(),
        attribute_condition,
        members,
        commands,
        notes,
    }
}

/// The principal of one person, by the token's `sub`.
pub fn subject_member(account: &GcpAccount, subject: &str) -> String {
    format!(
        "principal://iam.googleapis.com/{}/subject/{subject}",
        pool_path(account)
    )
}

/// Everyone whose token carries `email`, through the `attribute.email` mapping.
pub fn email_member(account: &GcpAccount, email: &str) -> String {
    format!(
        "principalSet://iam.googleapis.com/{}/attribute.email/{email}",
        pool_path(account)
    )
}

/// Every member of the IdP group `group`, through the `google.groups` mapping.
pub fn group_member(account: &GcpAccount, group: &str) -> String {
    format!(
        "principalSet://iam.googleapis.com/{}/group/{group}",
        pool_path(account)
    )
}

fn pool_path(account: &GcpAccount) -> String {
    format!(
        "projects/{}/locations/global/workloadIdentityPools/{}",
        account.project_number, account.pool_id
    )
}

/// A CEL string literal.
fn cel_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `value` as one POSIX shell word: as it is when plainly safe, else single-quoted.
fn shell_quote(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests;
