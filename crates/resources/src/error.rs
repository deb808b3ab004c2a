//! The one error type of resource operations, by what the caller can do about it.

use std::time::Duration;

/// Why a resource operation failed. Variants keep the cloud's own code and message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// The resource (or what it needs, such as an image) does not exist.
    #[error("{what} was not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The resource is in a state that does not allow this (a name taken, a stopped VM
    /// stopped again while the cloud refuses it).
    #[error("the cloud refused the change ({cloud_code}): {message}")]
    Conflict {
        /// The cloud's error code.
        cloud_code: String,
        /// The cloud's message.
        message: String,
    },
    /// A quota or limit would be exceeded.
    #[error("a cloud quota would be exceeded ({cloud_code}): {message}")]
    Quota {
        /// The cloud's error code.
        cloud_code: String,
        /// The cloud's message.
        message: String,
    },
    /// The credentials may not do this (missing IAM permission or role assignment).
    #[error("the cloud denied the operation ({cloud_code}): {message}")]
    Denied {
        /// The cloud's error code.
        cloud_code: String,
        /// The cloud's message.
        message: String,
    },
    /// The request is invalid for this cloud; `field` names what to fix.
    #[error("{field}: {reason}")]
    Invalid {
        /// The request field at fault (`size`, `image`, `region`, …).
        field: String,
        /// Why, including the cloud's message when it said so.
        reason: String,
        /// The cloud's code, when the cloud refused it.
        cloud_code: Option<String>,
    },
    /// The cloud is throttling: retry later.
    #[error("the cloud is throttling requests ({cloud_code})")]
    Throttled {
        /// How long the cloud asked to wait, when it said.
        retry_after: Option<Duration>,
        /// The cloud's error code.
        cloud_code: String,
    },
    /// The cloud could not be reached, failed or answered something unreadable.
    #[error("the cloud is unavailable: {message}")]
    Unavailable {
        /// The cloud's code, when it gave one.
        cloud_code: Option<String>,
        /// What happened, safe to show.
        message: String,
    },
}

impl ResourceError {
    /// The cloud's own error code, when there is one.
    pub fn cloud_code(&self) -> Option<&str> {
        match self {
            Self::Conflict { cloud_code, .. }
            | Self::Quota { cloud_code, .. }
            | Self::Denied { cloud_code, .. }
            | Self::Throttled { cloud_code, .. } => Some(cloud_code),
            Self::Invalid { cloud_code, .. } | Self::Unavailable { cloud_code, .. } => {
                cloud_code.as_deref()
            }
            Self::NotFound { .. } => None,
        }
    }
}
