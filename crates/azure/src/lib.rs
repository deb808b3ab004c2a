//! Azure access for a signed-in user: the user's own OIDC ID token is presented to Microsoft
//! Entra as a federated `client_assertion`, and Entra answers with a short-lived access token
//! for one app registration.
//!
//! [`AzureProvider`] implements [`credless_exchange::Provider`]: one `client_credentials`
//! request to `{authority_host}/{directory}/oauth2/v2.0/token` per exchange, through the
//! guarded client of [`credless_session::outbound`], with Entra's refusals classified by their
//! `AADSTS` error codes (never by their text) into [`credless_exchange::ExchangeError`].
//! [`trust_guidance`] writes the federated identity credential and the `az` commands an
//! administrator runs so that Entra trusts a user. With the `azure-core` feature (on by
//! default), `FederatedUserCredential` hands the same exchange to Azure SDK clients as an
//! `azure_core` `TokenCredential`.
//!
//! # Why not `azure_identity`
//!
//! `azure_identity`'s `ClientAssertionCredential` does the same request, but it does not fit a
//! multi-tenant gateway: its authority host must be `https` (tests would need a custom
//! transport), its token cache is keyed by scopes alone (so one credential object per tenant
//! and user, never shared, or users would receive each other's tokens), it retries on its
//! own (we retry once, in [`credless_exchange::Exchanger`]), it does not use our guarded
//! outbound client, and it folds Entra's `error_codes` into an error message that we would
//! have to parse. The request is five form fields, so this crate sends it itself.
//!
//! [`resources::AzureResources`] manages VMs and PostgreSQL flexible servers through Azure
//! Resource Manager with the caller's access token.
//!
//! This crate does not cache or retry (the exchanger does), calls Azure Resource Manager only
//! for [`resources`], and never verifies the access token Entra returns: it reads its claims
//! only to name the app for people.

mod claims;
#[cfg(feature = "azure-core")]
mod credential;
mod provider;
pub mod resources;
mod response;
mod trust;

#[cfg(feature = "azure-core")]
pub use credential::FederatedUserCredential;
pub use provider::{AzureConfig, AzureProvider, DEFAULT_AUTHORITY_HOST, DEFAULT_SCOPE};
pub use trust::{FederatedCredential, MAX_FEDERATED_CREDENTIALS, TrustGuidance, trust_guidance};
