//! Resource ids: URL-safe, stable, and decoding back to exactly one resource of one account.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::{Kind, ResourceError};

/// What a resource id encodes: the account, the kind, where it lives and the cloud's own id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceId {
    /// The account id within the tenant.
    #[serde(rename = "a")]
    pub account: String,
    /// `vm` or `database`.
    #[serde(rename = "k")]
    pub kind: Kind,
    /// Region or zone.
    #[serde(rename = "r")]
    pub location: String,
    /// The cloud's own id.
    #[serde(rename = "n")]
    pub native_id: String,
}

impl ResourceId {
    /// The id as it appears in URLs: base64url (no padding) of a compact JSON document.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes an id from a URL.
    ///
    /// Fails with [`ResourceError::NotFound`] when it is not an id Credless made, so a
    /// tampered or foreign id is simply not found.
    pub fn decode(id: &str) -> Result<Self, ResourceError> {
        let not_found = || ResourceError::NotFound {
            what: "resource".to_owned(),
        };
        if id.len() > 1024 {
            return Err(not_found());
        }
        let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| not_found())?;
        let decoded: Self = serde_json::from_slice(&bytes).map_err(|_| not_found())?;
        // Only the canonical encoding is accepted: one id, one resource.
        if decoded.encode() != id {
            return Err(not_found());
        }
        Ok(decoded)
    }
}
