//! The `RoleSessionName` that names a person in CloudTrail and in the assumed-role ARN.

use credless_session::Identity;

/// The most characters STS accepts in a role session name.
const MAX_LEN: usize = 64;

/// The fewest characters STS accepts in a role session name.
const MIN_LEN: usize = 2;

/// The role session name for `identity`: its email, or its subject when it has none, made
/// valid for STS.
///
/// STS accepts 2 to 64 characters of `[A-Za-z0-9_+=,.@-]`. Every other character (a space, a
/// slash, any non-ASCII letter) becomes `-`, the result is cut after 64 characters and a short
/// one is padded with `-`, so that CloudTrail and the assumed-role ARN show who acted.
pub fn role_session_name(identity: &Identity) -> String {
    let source = identity
        .email
        .as_deref()
        .filter(|email| !email.trim().is_empty())
        .unwrap_or(&identity.subject);
    session_name_from(source)
}

fn session_name_from(source: &str) -> String {
    let mut name: String = source
        .chars()
        .map(|c| if is_allowed(c) { c } else { '-' })
        .take(MAX_LEN)
        .collect();
    while name.len() < MIN_LEN {
        name.push('-');
    }
    name
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use credless_session::IdToken;

    use super::*;

    fn identity(subject: &str, email: Option<&str>) -> Identity {
        Identity {
            tenant: "acme".into(),
            subject: subject.into(),
            email: email.map(str::to_owned),
            preferred_username: None,
            groups: Vec::new(),
            id_token: IdToken::new("token"),
            expires_at: SystemTime::UNIX_EPOCH,
        }
    }

    fn is_valid(name: &str) -> bool {
        (MIN_LEN..=MAX_LEN).contains(&name.len()) && name.chars().all(is_allowed)
    }

    #[test]
    fn a_plain_email_is_kept_as_it_is() {
        let name = role_session_name(&identity("u-1", Some("jane.doe+ops@acme.example")));
        assert_eq!(name, "jane.doe+ops@acme.example");
    }

    #[test]
    fn the_subject_names_the_session_when_there_is_no_email() {
        assert_eq!(role_session_name(&identity("user_42", None)), "user_42");
        assert_eq!(
            role_session_name(&identity("user_42", Some(" "))),
            "user_42"
        );
    }

    #[test]
    fn characters_sts_refuses_become_dashes_one_for_one() {
        let name = role_session_name(&identity("x", Some("José Müller/ops@例え.jp")));
        assert_eq!(name, "Jos--M-ller-ops@--.jp");
        assert!(is_valid(&name));
        let name = role_session_name(&identity("auth0|5f3a:b", None));
        assert_eq!(name, "auth0-5f3a-b");
    }

    #[test]
    fn long_emails_are_cut_to_64_characters() {
        let email = format!("{}@acme.example", "a".repeat(87));
        assert_eq!(email.len(), 100);
        let name = role_session_name(&identity("x", Some(&email)));
        assert_eq!(name, "a".repeat(64));
        let unicode = "é".repeat(100);
        let name = role_session_name(&identity(&unicode, None));
        assert_eq!(name, "-".repeat(64));
    }

    #[test]
    fn one_character_subjects_are_padded_to_two() {
        assert_eq!(role_session_name(&identity("7", None)), "7-");
        assert_eq!(role_session_name(&identity("", None)), "--");
        assert!(is_valid(&role_session_name(&identity("ü", None))));
    }
}
