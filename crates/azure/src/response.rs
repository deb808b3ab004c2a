//! Entra's answers: the access token, or a refusal classified by its `AADSTS` codes.
//!
//! Microsoft warns that error texts change; the numeric `error_codes` are stable, so they
//! alone decide the classification, and the OAuth `error` only when no code is known.

use std::time::{Duration, SystemTime};

use credless_exchange::{AccessToken, ExchangeError, Secret};
use credless_registry::AzureAccount;
use serde::Deserialize;

use crate::claims;

/// The longest cloud message kept; Entra's first lines are a few hundred characters.
const MAX_MESSAGE_CHARS: usize = 600;

/// Said with `AADSTS70021`, which Entra also answers while a new credential propagates.
const PROPAGATION_HINT: &str = "A federated credential added in the last few minutes can take \
                                a minute to propagate: retry shortly.";

/// A successful token response.
#[derive(Deserialize)]
struct TokenBody {
    token_type: String,
    expires_in: Seconds,
    access_token: String,
}

/// `expires_in` is a number in v2 answers and a string in some older ones.
#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(u64),
    Text(String),
}

/// An error response, as documented for the Microsoft identity platform.
#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// What Entra's refusal means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// No federated identity credential matches the token.
    TrustRefused,
    /// The token itself is malformed, expired or wrongly signed.
    TokenRejected,
    /// The directory, app or scope does not exist as configured.
    Misconfigured,
    /// Entra is limiting requests.
    Throttled,
}

/// The meaning of one `AADSTS` code, for the codes whose meaning is stable and known.
fn meaning_of(code: u64) -> Option<Meaning> {
    let meaning = match code {
        // No federated identity record matches the assertion (as a whole, or its issuer,
        // audience or subject); 70021 also while a new credential propagates.
        70021 | 700211 | 700212 | 700213 => Meaning::TrustRefused,
        // Malformed JWT, failed signature, invalid or expired assertion.
        50027 | 50013 | 700024 | 700027 => Meaning::TokenRejected,
        // App not in the directory, tenant not found or invalid, invalid scope.
        700016 | 90002 | 900023 | 70011 | 1002012 => Meaning::Misconfigured,
        // Too many requests to the tenant.
        90055 => Meaning::Throttled,
        _ => return None,
    };
    Some(meaning)
}

/// The meaning of an OAuth `error` when none of the codes is known.
fn meaning_of_oauth_error(error: &str) -> Option<Meaning> {
    let meaning = match error {
        "invalid_client" => Meaning::TrustRefused,
        "invalid_grant" => Meaning::TokenRejected,
        "unauthorized_client" | "invalid_scope" => Meaning::Misconfigured,
        _ => return None,
    };
    Some(meaning)
}

/// Reads a successful answer into an access token for `account`.
///
/// An answer that is not the documented JSON is [`ExchangeError::Unavailable`].
pub(crate) fn parse_success(
    body: &[u8],
    account: &AzureAccount,
    now: SystemTime,
) -> Result<AccessToken, ExchangeError> {
    let unreadable = |message: &str| ExchangeError::Unavailable {
        cloud_code: None,
        message: message.to_owned(),
        transient: false,
        source: None,
    };
    let parsed: TokenBody = serde_json::from_slice(body)
        .map_err(|_| unreadable("Entra answered with an unreadable token response"))?;
    if !parsed.token_type.eq_ignore_ascii_case("bearer") || parsed.access_token.is_empty() {
        return Err(unreadable("Entra answered without a bearer access token"));
    }
    let lifetime = match parsed.expires_in {
        Seconds::Number(seconds) => Some(seconds),
        Seconds::Text(text) => text.trim().parse().ok(),
    }
    .filter(|seconds| *seconds > 0)
    .ok_or_else(|| unreadable("Entra answered with an unusable expires_in"))?;

    let cloud_identity =
        claims::cloud_identity(&parsed.access_token, &account.client_id, &account.tenant_id);
    Ok(AccessToken {
        token: Secret::new(parsed.access_token),
        expires_at: now + Duration::from_secs(lifetime),
        cloud_identity,
    })
}

/// Classifies a non-success answer with HTTP status `status`.
pub(crate) fn classify_error(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ExchangeError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let known_code = parsed.as_ref().and_then(|body| {
        body.error_codes
            .iter()
            .find_map(|code| meaning_of(*code).map(|meaning| (*code, meaning)))
    });
    let first_code = known_code
        .map(|(code, _)| code)
        .or_else(|| parsed.as_ref()?.error_codes.first().copied());
    let oauth_error = parsed.as_ref().and_then(|body| body.error.clone());
    let cloud_code = first_code
        .map(|code| format!("AADSTS{code}"))
        .or_else(|| oauth_error.clone());
    let message = parsed
        .as_ref()
        .and_then(|body| body.error_description.as_deref())
        .map(first_line)
        .filter(|line| !line.is_empty())
        .unwrap_or_else(|| format!("Entra answered HTTP {status}"));

    if status == 429 {
        return ExchangeError::Throttled {
            retry_after,
            cloud_code: cloud_code.unwrap_or_else(|| "throttled".to_owned()),
            message,
        };
    }
    if status >= 500 || status == 408 {
        return ExchangeError::Unavailable {
            cloud_code,
            message,
            transient: true,
            source: None,
        };
    }
    let meaning = known_code
        .map(|(_, meaning)| meaning)
        .or_else(|| meaning_of_oauth_error(oauth_error.as_deref()?));
    let (Some(meaning), Some(cloud_code)) = (meaning, cloud_code.clone()) else {
        let message = if parsed.is_some() {
            message
        } else {
            format!("Entra answered HTTP {status} with an unreadable body")
        };
        return ExchangeError::Unavailable {
            cloud_code,
            message,
            transient: false,
            source: None,
        };
    };

    match meaning {
        Meaning::TrustRefused if first_code == Some(70021) => ExchangeError::TrustRefused {
            cloud_code,
            message: format!("{message} {PROPAGATION_HINT}"),
        },
        Meaning::TrustRefused => ExchangeError::TrustRefused {
            cloud_code,
            message,
        },
        Meaning::TokenRejected => ExchangeError::TokenRejected {
            cloud_code,
            message,
        },
        Meaning::Misconfigured => ExchangeError::Misconfigured {
            reason: message,
            cloud_code: Some(cloud_code),
        },
        Meaning::Throttled => ExchangeError::Throttled {
            retry_after,
            cloud_code,
            message,
        },
    }
}

/// The first line of an `error_description`, without its `AADSTS…: ` prefix (the code is
/// kept apart) and cut to [`MAX_MESSAGE_CHARS`]. The lines after it (trace and correlation
/// ids, timestamp) are for Microsoft support, not for users.
fn first_line(description: &str) -> String {
    let line = description.lines().next().unwrap_or_default().trim();
    let line = match line.split_once(": ") {
        Some((code, rest)) if is_aadsts_code(code) => rest,
        _ => line,
    };
    match line.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

fn is_aadsts_code(text: &str) -> bool {
    text.strip_prefix("AADSTS")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests;
