//! The exchange as an `azure_core` `TokenCredential`, for Azure SDK clients.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::time::OffsetDateTime;
use credless_registry::AzureAccount;
use credless_session::Identity;

use crate::AzureProvider;

/// A user's federated access to one Azure account, as an Azure SDK `TokenCredential`.
///
/// Each [`get_token`](TokenCredential::get_token) exchanges the user's ID token for the
/// requested scopes, without caching: Azure SDK clients keep the token until shortly before
/// it expires. Build one per user and request (it holds that user's ID token) and never
/// share it between users. Once the ID token expires, `get_token` fails until a credential is
/// built from a fresh identity.
///
/// Failures are `azure_core` errors of kind `Credential` whose source is the
/// [`credless_exchange::ExchangeError`], to classify with `downcast_ref`.
#[derive(Clone)]
pub struct FederatedUserCredential {
    provider: Arc<AzureProvider>,
    identity: Identity,
    account: AzureAccount,
}

impl FederatedUserCredential {
    /// A credential exchanging `identity`'s ID token through `provider` as the app of
    /// `account`.
    pub fn new(provider: Arc<AzureProvider>, identity: Identity, account: AzureAccount) -> Self {
        Self {
            provider,
            identity,
            account,
        }
    }
}

#[async_trait]
impl TokenCredential for FederatedUserCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        if scopes.is_empty() {
            return Err(azure_core::Error::with_message(
                ErrorKind::Credential,
                "no scope was requested",
            ));
        }
        let token = self
            .provider
            .exchange_for_scope(&self.identity, &self.account, &scopes.join(" "))
            .await
            .map_err(|error| azure_core::Error::new(ErrorKind::Credential, error))?;
        Ok(AccessToken::new(
            token.token.expose().to_owned(),
            OffsetDateTime::from(token.expires_at),
        ))
    }
}

impl fmt::Debug for FederatedUserCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederatedUserCredential")
            .field("tenant", &self.identity.tenant)
            .field("subject", &self.identity.subject)
            .field("account", &self.account.id)
            .finish_non_exhaustive()
    }
}
