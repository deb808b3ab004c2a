//! Idempotency records: what a resource creation sent with an `Idempotency-Key` answered,
//! so that a retry gets the same answer instead of a second resource.
//!
//! The gateway claims a key before calling the cloud ([`crate::Registry::claim_idempotency`]),
//! then completes the claim with the response it sent, or abandons it when the call failed so
//! that a retry may try again. Records are scoped to a tenant and an account, and go with the
//! account when it is deleted.

use std::time::Duration;

use crate::error::{RegistryError, Result};

/// How long a record answers retries; older ones are treated as absent and replaced.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a claim may stay in flight; a claim older than this is taken for the leftover of
/// a crashed process and may be claimed again. Far above any request timeout.
pub const IN_FLIGHT_LEASE: Duration = Duration::from_secs(10 * 60);

/// The longest key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// The header a key arrives in, named by [`RegistryError::Invalid`] when it breaks the rules.
pub const IDEMPOTENCY_KEY_FIELD: &str = "Idempotency-Key";

/// What a claim on an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is now claimed by this request: carry it out, then complete or abandon.
    New,
    /// Another request with this key and body is still being carried out (HTTP 409).
    InFlight,
    /// A request with this key and body already finished: answer what it answered.
    Done {
        /// The HTTP status it answered.
        status: u16,
        /// The JSON body it answered.
        response: serde_json::Value,
    },
    /// The key was used with a different request (HTTP 422).
    Mismatch,
}

/// Checks an `Idempotency-Key` value: 1 to 255 printable ASCII characters.
///
/// Fails with `Invalid` (field `Idempotency-Key`); the message does not repeat the value.
pub fn validate_idempotency_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_CHARS {
        return Err(RegistryError::invalid(
            IDEMPOTENCY_KEY_FIELD,
            "must be 1 to 255 characters long",
        ));
    }
    if !key.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(RegistryError::invalid(
            IDEMPOTENCY_KEY_FIELD,
            "must hold printable ASCII characters only",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(key: &str) -> Option<String> {
        match validate_idempotency_key(key) {
            Err(RegistryError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn keys_are_short_printable_ascii() {
        assert!(validate_idempotency_key("0b1f3c9e-4a52-4a4e-9a9e-1c2d3e4f5a6b").is_ok());
        assert!(validate_idempotency_key(&"k".repeat(MAX_KEY_CHARS)).is_ok());
        for bad in [
            String::new(),
            "k".repeat(MAX_KEY_CHARS + 1),
            "tab\there".to_owned(),
            "naïve".to_owned(),
        ] {
            assert_eq!(
                field_of(&bad).as_deref(),
                Some("Idempotency-Key"),
                "{bad:?}"
            );
        }
    }
}
