//! Who an Entra access token names, read for display only.
//!
//! The payload is decoded without verifying the signature: the token came straight from Entra
//! over TLS, and the result only decides the words shown to people, never an access decision.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// The claims of an Entra access token that name the caller.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The service principal's object id.
    pub(crate) oid: Option<String>,
    /// The app registration's client id (v1 tokens; v2 tokens call it `azp`).
    #[serde(alias = "azp")]
    pub(crate) appid: Option<String>,
    /// The directory id.
    pub(crate) tid: Option<String>,
}

/// The caller claims of a JWT-shaped token, or none when it is opaque or unreadable.
pub(crate) fn caller(token: &str) -> Caller {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Caller::default();
    };
    URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// How an access token's caller is shown: `app <client id> in directory <directory>`, with the
/// service principal's object id when the token names it.
///
/// The token's own claims are preferred; the account binding fills in what they lack.
pub(crate) fn cloud_identity(token: &str, client_id: &str, directory: &str) -> String {
    let caller = caller(token);
    let app = caller.appid.as_deref().unwrap_or(client_id);
    let directory = caller.tid.as_deref().unwrap_or(directory);
    match caller.oid {
        Some(oid) => format!("app {app} (service principal {oid}) in directory {directory}"),
        None => format!("app {app} in directory {directory}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn token(payload: serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        format!("{header}.{payload}.c2ln")
    }

    #[test]
    fn the_tokens_own_claims_name_the_app() {
        let token = token(json!({"appid": "app-1", "oid": "sp-1", "tid": "dir-1"}));

        assert_eq!(
            cloud_identity(&token, "configured-app", "configured-dir"),
            "app app-1 (service principal sp-1) in directory dir-1"
        );
    }

    #[test]
    fn an_opaque_token_falls_back_to_the_account_binding() {
        for opaque in ["opaque", "a.b", "a.!!!.c", "a.b.c.d"] {
            assert_eq!(
                cloud_identity(opaque, "app-2", "dir-2"),
                "app app-2 in directory dir-2"
            );
        }
    }

    #[test]
    fn a_v2_token_names_its_app_in_azp() {
        let token = token(json!({"azp": "app-3"}));

        assert_eq!(caller(&token).appid.as_deref(), Some("app-3"));
    }
}
