//! The federated exchange as a `gcp_auth::TokenProvider`, so Google client crates can act with
//! one person's short-lived service account tokens.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use credless_exchange::{AccessToken, ExchangeError};
use credless_registry::GcpAccount;
use credless_session::{IdToken, Identity};
use gcp_auth::{Token, TokenProvider};
use tracing::Instrument as _;

use crate::GcpProvider;

/// Tokens are exchanged anew this long before Google says they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// A [`gcp_auth::TokenProvider`] that exchanges one person's ID token for tokens of one GCP
/// account's service account, keeping each until a minute before it expires.
///
/// Build one per person and account, never share one between people: its cache is keyed by
/// scopes only. Calls are serialised, so concurrent callers share one exchange. The ID token
/// expires (often after an hour): hand a fresh one to [`set_id_token`](Self::set_id_token)
/// when the session is revalidated, or exchanges start failing with
/// [`ExchangeError::TokenRejected`] inside [`gcp_auth::Error::Other`].
pub struct FederatedTokenProvider {
    provider: GcpProvider,
    account: GcpAccount,
    tenant: String,
    id_token: Mutex<IdToken>,
    project_id: Arc<str>,
    tokens: tokio::sync::Mutex<HashMap<Vec<String>, Cached>>,
}

struct Cached {
    token: Arc<Token>,
    expires_at: SystemTime,
}

impl FederatedTokenProvider {
    /// A token provider for `identity` acting through `account`.
    pub fn new(provider: GcpProvider, identity: &Identity, account: GcpAccount) -> Self {
        Self {
            provider,
            project_id: Arc::from(account.project_id.as_str()),
            account,
            tenant: identity.tenant.clone(),
            id_token: Mutex::new(identity.id_token.clone()),
            tokens: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Uses `id_token` for the exchanges from now on; tokens already cached stay valid.
    pub fn set_id_token(&self, id_token: IdToken) {
        *self.id_token.lock().unwrap_or_else(PoisonError::into_inner) = id_token;
    }

    fn current_id_token(&self) -> IdToken {
        self.id_token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl TokenProvider for FederatedTokenProvider {
    /// A cached or freshly exchanged token carrying `scopes` (the provider's configured
    /// scopes when empty).
    ///
    /// Fails with [`gcp_auth::Error::Other`] whose source is the [`ExchangeError`].
    async fn token(&self, scopes: &[&str]) -> Result<Arc<Token>, gcp_auth::Error> {
        let mut key: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
        key.sort();
        key.dedup();

        let mut tokens = self.tokens.lock().await;
        let now = SystemTime::now();
        if let Some(cached) = tokens.get(&key)
            && cached.expires_at > now + REFRESH_MARGIN
        {
            return Ok(Arc::clone(&cached.token));
        }

        let span = tracing::info_span!(
            "gcp.token_provider",
            tenant.id = %self.tenant,
            account.id = %self.account.id,
            provider = "gcp",
        );
        let issued = self
            .provider
            .access_token(&self.current_id_token(), &self.account, scopes)
            .instrument(span)
            .await
            .map_err(exchange_failed)?;
        let token = Arc::new(to_gcp_auth(&issued)?);
        tokens.insert(
            key,
            Cached {
                token: Arc::clone(&token),
                expires_at: issued.expires_at,
            },
        );
        Ok(token)
    }

    /// The account's project id.
    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        Ok(Arc::clone(&self.project_id))
    }
}

impl fmt::Debug for FederatedTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederatedTokenProvider")
            .field("tenant", &self.tenant)
            .field("account", &self.account.id)
            .field("service_account", &self.account.service_account)
            .finish_non_exhaustive()
    }
}

/// Builds a `gcp_auth::Token`, which can only be made by deserialising the OAuth token
/// response shape `{"access_token", "expires_in"}`.
fn to_gcp_auth(issued: &AccessToken) -> Result<Token, gcp_auth::Error> {
    let remaining = issued
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let response = serde_json::json!({
        "access_token": issued.token.expose(),
        "expires_in": remaining.as_secs(),
    });
    // The error would quote the document, token included: keep only that it failed.
    serde_json::from_value(response)
        .map_err(|_| gcp_auth::Error::Str("building a gcp_auth token failed"))
}

fn exchange_failed(error: ExchangeError) -> gcp_auth::Error {
    gcp_auth::Error::Other("the federated token exchange failed", Box::new(error))
}
