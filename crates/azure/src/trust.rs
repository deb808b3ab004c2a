//! What an administrator configures in Entra so that it trusts a user's ID token.
//!
//! Entra trusts an external token through a federated identity credential on the app
//! registration, matched on the token's `iss`, `sub` and `aud` exactly. A user's `sub` is their
//! own, so each user needs a credential of their own, and an app holds at most
//! [`MAX_FEDERATED_CREDENTIALS`].

use credless_registry::{AzureAccount, Oidc};
use serde::Serialize;

/// The most federated identity credentials Entra allows on one app registration.
pub const MAX_FEDERATED_CREDENTIALS: usize = 20;

/// Entra's limit on a federated credential's name.
const MAX_NAME_CHARS: usize = 120;

/// Shown when the tenant lists no audience, for the administrator to fill in.
const AUDIENCE_PLACEHOLDER: &str = "<the client id your identity provider puts in aud>";

/// A federated identity credential as `az ad app federated-credential create --parameters`
/// and Microsoft Graph take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FederatedCredential {
    /// Unique within the app: 3-120 letters, digits, `-` and `_`, starting with a letter.
    pub name: String,
    /// The tenant's OIDC issuer, exactly as its ID tokens carry it in `iss`.
    pub issuer: String,
    /// The user's `sub`, matched exactly.
    pub subject: String,
    /// For people reading the app registration.
    pub description: String,
    /// The one audience Entra allows: the `aud` of the tenant's ID tokens.
    pub audiences: Vec<String>,
}

/// The trust setup of one Azure account for one user, as JSON and `az` commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustGuidance {
    /// The federated credential that lets this user in.
    pub federated_credential: FederatedCredential,
    /// `az ad app federated-credential create …` adding it to the account's app.
    pub federated_credential_command: String,
    /// The same command with `<NAME>` and `<SUBJECT>` to fill in once per further user.
    pub per_user_command: String,
    /// `az role assignment create …` letting the app work in the account's resource group.
    pub role_assignment_command: String,
    /// What Entra enforces and what follows from it, one sentence each.
    pub notes: Vec<String>,
}

/// The trust setup that lets the user `subject` of the tenant with `oidc` use `account`.
///
/// Pure: it calls nothing and can be shown before anything is configured.
pub fn trust_guidance(oidc: &Oidc, account: &AzureAccount, subject: &str) -> TrustGuidance {
    let audience = oidc
        .audiences
        .first()
        .map_or(AUDIENCE_PLACEHOLDER, String::as_str);
    let federated_credential = FederatedCredential {
        name: credential_name(subject),
        issuer: oidc.issuer.clone(),
        subject: subject.to_owned(),
        description: format!("Credless: user {subject}"),
        audiences: vec![audience.to_owned()],
    };
    let template = FederatedCredential {
        name: "<NAME>".to_owned(),
        subject: "<SUBJECT>".to_owned(),
        description: "Credless: user <SUBJECT>".to_owned(),
        ..federated_credential.clone()
    };
    let client_id = &account.client_id;
    let notes = vec![
        format!(
            "Entra matches the token's issuer, subject and audience exactly, with no wildcards: \
             a federated credential lets in one user only, the one whose ID token has \
             sub = {subject:?}."
        ),
        "Add one federated credential per user, each with that user's own sub (shown as \
         \"subject\" by GET /api/v1/me) and a unique name: run the per-user command once for \
         each."
            .to_owned(),
        format!(
            "An app registration holds at most {MAX_FEDERATED_CREDENTIALS} federated \
             credentials, so at most {MAX_FEDERATED_CREDENTIALS} users per app; for more users, \
             register another app and another Credless account."
        ),
        format!(
            "The issuer must be exactly {:?}, trailing slash included or not as your ID tokens \
             say, and the audience exactly {audience:?}, the aud of the ID tokens your identity \
             provider issues to Credless.",
            oidc.issuer
        ),
        "A new federated credential can take a minute to propagate; until then Entra answers \
         AADSTS70021."
            .to_owned(),
        format!(
            "The role assignment lets the app, and so every user with a federated credential on \
             it, act as Contributor on resource group {}; Azure's activity log names the app, \
             Credless's audit log names the user.",
            account.resource_group
        ),
    ];
    TrustGuidance {
        federated_credential_command: create_command(client_id, &federated_credential),
        per_user_command: create_command(client_id, &template),
        role_assignment_command: format!(
            "az role assignment create --assignee {client_id} --role Contributor \
             --scope /subscriptions/{}/resourceGroups/{}",
            account.subscription_id, account.resource_group
        ),
        federated_credential,
        notes,
    }
}

impl TrustGuidance {
    /// The guidance as plain text for people: the commands, the JSON and the notes.
    pub fn text(&self) -> String {
        let json = serde_json::to_string_pretty(&self.federated_credential).unwrap_or_default();
        let mut text = String::new();
        text.push_str("1. Add a federated credential for this user to the app registration:\n\n");
        text.push_str(&format!("   {}\n\n", self.federated_credential_command));
        text.push_str(&format!("   The credential:\n\n{json}\n\n"));
        text.push_str("2. For each further user, fill in their sub and a unique name:\n\n");
        text.push_str(&format!("   {}\n\n", self.per_user_command));
        text.push_str("3. Let the app work in the resource group (once per account):\n\n");
        text.push_str(&format!("   {}\n\n", self.role_assignment_command));
        text.push_str("Good to know:\n");
        for note in &self.notes {
            text.push_str(&format!("- {note}\n"));
        }
        text
    }
}

/// `az ad app federated-credential create` for `credential` on the app `client_id`.
fn create_command(client_id: &str, credential: &FederatedCredential) -> String {
    let parameters = serde_json::to_string(credential).unwrap_or_default();
    format!(
        "az ad app federated-credential create --id {client_id} --parameters {}",
        shell_quote(&parameters)
    )
}

/// Quotes `text` as one POSIX shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A name Entra accepts and that differs between subjects: `credless-` and the subject with
/// other characters replaced by `-`, plus a hash of the subject when anything was replaced or
/// cut, so that `a|b` and `a.b` still get different names.
fn credential_name(subject: &str) -> String {
    let cleaned: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let base = format!("credless-{cleaned}");
    if cleaned == subject && base.len() <= MAX_NAME_CHARS {
        return base;
    }
    let suffix = format!("-{:08x}", fnv1a(subject.as_bytes()));
    let kept = MAX_NAME_CHARS - suffix.len();
    let mut name: String = base.chars().take(kept).collect();
    name.push_str(&suffix);
    name
}

/// 32-bit FNV-1a: a stable, dependency-free hash to tell names apart (not for security).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests;
