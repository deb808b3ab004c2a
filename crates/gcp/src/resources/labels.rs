//! Google's label rules, and the names Compute Engine and Cloud SQL accept.

use std::collections::BTreeMap;

use serde_json::Value;

/// The label every resource Credless creates carries, with the value [`MANAGED_BY_VALUE`].
pub const MANAGED_BY_KEY: &str = "managed-by";
/// The value of [`MANAGED_BY_KEY`].
pub const MANAGED_BY_VALUE: &str = "credless";
/// Google's limit on a label key or value.
const MAX_LABEL_CHARS: usize = 63;
/// Google's limit on labels per resource.
const MAX_LABELS: usize = 64;

/// The labels of a new resource: the request's tags made valid, then `name=<name>` and
/// `managed-by=credless`, which no tag can override.
///
/// Google allows only lowercase letters, digits, `_` and `-` in label keys and values, at most
/// 63 characters, keys starting with a letter, at most 64 labels. So keys and values are
/// lowercased, every other character becomes `_`, both are cut to 63 characters, and a key not
/// starting with a letter gets the prefix `tag_`. Tags past the 62nd (in key order) are
/// dropped. Two tags that sanitize to the same key keep the later one in key order.
pub fn sanitize_labels(tags: &BTreeMap<String, String>, name: &str) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = tags
        .iter()
        .map(|(key, value)| {
            let mut key = sanitize(key);
            if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
                key = format!("tag_{key}");
                key.truncate(MAX_LABEL_CHARS);
            }
            (key, sanitize(value))
        })
        .filter(|(key, _)| key != MANAGED_BY_KEY && key != "name")
        .take(MAX_LABELS - 2)
        .collect();
    labels.insert("name".to_owned(), sanitize(name));
    labels.insert(MANAGED_BY_KEY.to_owned(), MANAGED_BY_VALUE.to_owned());
    labels
}

/// Labels as the APIs return them (`labels` or `settings.userLabels`), as tags.
pub(super) fn labels_of(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect()
}

/// Whether `name` is a valid instance name for both APIs: `[a-z]([-a-z0-9]*[a-z0-9])?`, at
/// most 63 characters.
pub(super) fn is_resource_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && is_native_name(name)
}

/// Whether `value` can be a native size name: 1-63 of `[a-z0-9-]`.
pub(super) fn is_native_name(value: &str) -> bool {
    (1..=MAX_LABEL_CHARS).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_LABEL_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_become_valid_labels_and_cannot_unmanage() {
        let tags = BTreeMap::from([
            ("Team".to_owned(), "Data Platform".to_owned()),
            ("2fa".to_owned(), "on".to_owned()),
            ("cost.center".to_owned(), "ÄB/12".to_owned()),
            ("Managed-By".to_owned(), "someone".to_owned()),
        ]);

        let labels = sanitize_labels(&tags, "web-1");

        assert_eq!(labels["team"], "data_platform");
        assert_eq!(labels["tag_2fa"], "on");
        assert_eq!(labels["cost_center"], "_b_12");
        assert_eq!(labels["name"], "web-1");
        assert_eq!(labels[MANAGED_BY_KEY], MANAGED_BY_VALUE);
        assert_eq!(labels.len(), 5);
    }

    #[test]
    fn long_tags_are_cut_and_too_many_are_dropped() {
        let tags: BTreeMap<String, String> = (0..100)
            .map(|n| (format!("k{n:03}{}", "x".repeat(80)), "v".repeat(80)))
            .collect();

        let labels = sanitize_labels(&tags, "db");

        assert_eq!(labels.len(), 64);
        assert!(
            labels
                .iter()
                .all(|(key, value)| key.len() <= 63 && value.len() <= 63)
        );
        assert_eq!(labels[MANAGED_BY_KEY], MANAGED_BY_VALUE);
    }

    #[test]
    fn resource_names_follow_google() {
        assert!(is_resource_name("web-1"));
        assert!(!is_resource_name("1web"));
        assert!(!is_resource_name("web-"));
        assert!(!is_resource_name("Web"));
        assert!(!is_resource_name(&"a".repeat(64)));
    }
}
