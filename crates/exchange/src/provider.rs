//! The one interface every cloud implements.

use async_trait::async_trait;

use credless_registry::{Account, Provider as ProviderKind, Tenant};
use credless_session::Identity;

use crate::{Credentials, ExchangeError};

/// What an exchange needs: who asks, for which tenant, and which account binding.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeRequest<'a> {
    /// The tenant the identity belongs to.
    pub tenant: &'a Tenant,
    /// The verified identity, carrying the ID token to exchange.
    pub identity: &'a Identity,
    /// The account binding, of the provider's own cloud.
    pub account: &'a Account,
}

/// Exchanges a verified ID token for short-lived credentials in one cloud.
///
/// Implementations make one attempt per call: retries, caching and merging of concurrent
/// calls belong to [`crate::Exchanger`]. They must classify failures precisely (see
/// [`ExchangeError`]) and keep the cloud's own code and message.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The cloud this provider serves.
    fn kind(&self) -> ProviderKind;

    /// Performs one exchange.
    ///
    /// Fails with [`ExchangeError::Misconfigured`] when the account is not of this
    /// provider's cloud, and with the other variants as the cloud answers.
    async fn exchange(&self, request: ExchangeRequest<'_>) -> Result<Credentials, ExchangeError>;
}
