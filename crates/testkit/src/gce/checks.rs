//! What both fake APIs check in a request: instance names and labels.

use serde_json::Value;

/// Whether `name` is a valid Compute Engine or Cloud SQL resource name:
/// `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub(super) fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !name.ends_with('-')
}

/// Checks labels as both APIs do: keys start with a lowercase letter, keys and values are at
/// most 63 of lowercase letters, digits, `_` and `-`, at most 64 labels.
pub(super) fn check_labels(labels: &serde_json::Map<String, Value>) -> Result<(), String> {
    let allowed = |s: &str| {
        s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    if labels.len() > 64 {
        return Err("Too many labels: at most 64 are allowed.".to_owned());
    }
    for (key, value) in labels {
        let starts = key.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        if !starts || !allowed(key) {
            return Err(format!(
                "Label key '{key}' violates format constraints. The key must start with a \
                 lowercase character, can only contain lowercase letters, numeric characters, \
                 underscores and dashes. The key can be at most 63 characters long."
            ));
        }
        if !value.as_str().is_some_and(allowed) {
            return Err(format!(
                "Label value '{value}' violates format constraints. The value can only contain \
                 lowercase letters, numeric characters, underscores and dashes. The value can \
                 be at most 63 characters long."
            ));
        }
    }
    Ok(())
}

/// Whether `labels` has `key` set to `value`.
pub(super) fn has_label(labels: &serde_json::Map<String, Value>, key: &str, value: &str) -> bool {
    labels.get(key).and_then(Value::as_str) == Some(value)
}
