//! The one error type of the registry.

use std::error::Error as StdError;

/// A boxed error from a store backend, kept as the source of [`RegistryError::Unavailable`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong in the registry, phrased by what the caller can do about it.
///
/// Messages never carry a secret: URLs are named by their field, never echoed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The input breaks a rule; fix `field` and send it again (HTTP 400).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The exact path of the offending field, such as `hostnames[1]` or `oidc.issuer`.
        field: String,
        /// What the rule is, without repeating the value.
        reason: String,
    },

    /// The tenant or account does not exist (HTTP 404).
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// `"tenant"`, `"account"` or `"idempotency key"`.
        kind: &'static str,
        /// The identifier that was looked up.
        id: String,
    },

    /// The write collides with existing data, such as a taken id or hostname (HTTP 409).
    #[error("conflict: {reason}")]
    Conflict {
        /// What collides with what.
        reason: String,
    },

    /// The database was written by a newer Credless; upgrade before using it.
    #[error(
        "the store has schema version {found}, newer than the {supported} this build knows; \
         upgrade Credless"
    )]
    UnsupportedSchema {
        /// The version recorded in the database.
        found: i64,
        /// The newest version this build can use.
        supported: i64,
    },

    /// The store could not be reached or failed; retry later (HTTP 503).
    #[error("the registry store is unavailable")]
    Unavailable {
        /// The underlying database, IO or decoding error.
        #[source]
        source: BoxError,
    },
}

impl RegistryError {
    /// An [`RegistryError::Invalid`] for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A [`RegistryError::NotFound`] for a tenant.
    pub fn tenant_not_found(id: &str) -> Self {
        Self::NotFound {
            kind: "tenant",
            id: id.to_owned(),
        }
    }

    /// A [`RegistryError::NotFound`] for an account.
    pub fn account_not_found(id: &str) -> Self {
        Self::NotFound {
            kind: "account",
            id: id.to_owned(),
        }
    }

    /// A [`RegistryError::Conflict`].
    pub fn conflict(reason: impl Into<String>) -> Self {
        Self::Conflict {
            reason: reason.into(),
        }
    }

    /// A [`RegistryError::Unavailable`] caused by `source`.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            source: source.into(),
        }
    }
}

/// A `Result` whose error is [`RegistryError`].
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_chains_its_source_without_repeating_it() {
        let err = RegistryError::unavailable(std::io::Error::other("disk on fire"));
        assert_eq!(err.to_string(), "the registry store is unavailable");
        let source = err.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk on fire"));
    }

    #[test]
    fn messages_name_the_field_and_the_thing() {
        let err = RegistryError::invalid("hostnames[1]", "is not a valid DNS name");
        assert_eq!(
            err.to_string(),
            "invalid hostnames[1]: is not a valid DNS name"
        );
        assert_eq!(
            RegistryError::tenant_not_found("acme").to_string(),
            "tenant `acme` not found"
        );
        let err = RegistryError::UnsupportedSchema {
            found: 9,
            supported: 1,
        };
        assert!(err.to_string().contains("upgrade Credless"), "{err}");
    }
}
