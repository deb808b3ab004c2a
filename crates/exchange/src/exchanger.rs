//! One cache and one retry policy in front of every provider.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::cache::{CacheKey, Cached, CredentialExpiry};
use crate::retry::{Next, RetryPolicy};
use crate::{Credentials, ExchangeError, ExchangeRequest, Provider};

/// How credentials are cached and exchanges retried.
#[derive(Debug, Clone)]
pub struct ExchangeConfig {
    /// Credentials are dropped this long before the cloud says they expire.
    pub expiry_margin: Duration,
    /// Attempts for transient failures, the first included.
    pub max_attempts: u32,
    /// The first backoff; each retry doubles it, with jitter.
    pub base_backoff: Duration,
    /// The most credentials kept at once.
    pub max_entries: u64,
    /// The longest wait between two attempts. Backoff is capped here, and when a throttling
    /// cloud asks to wait longer, the exchange fails at once with
    /// [`ExchangeError::Throttled`] and the cloud's `retry_after`, for the caller to pass on.
    pub max_wait: Duration,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        Self {
            expiry_margin: Duration::from_secs(300),
            max_attempts: 3,
            base_backoff: Duration::from_millis(200),
            max_entries: 100_000,
            max_wait: Duration::from_secs(10),
        }
    }
}

/// The providers behind one cache and one retry policy.
///
/// Credentials are cached per tenant, account binding and person (issuer and subject), until
/// [`ExchangeConfig::expiry_margin`] before they expire and never past the expiry of the ID
/// token they were exchanged for. Concurrent requests for the same entry share one exchange.
/// Failures are never cached.
pub struct Exchanger {
    providers: Vec<Arc<dyn Provider>>,
    config: ExchangeConfig,
    retry: RetryPolicy,
    cache: moka::future::Cache<CacheKey, Cached>,
}

impl Exchanger {
    /// An exchanger over these providers. When two serve the same cloud, the first is used.
    pub fn new(providers: Vec<Arc<dyn Provider>>, config: ExchangeConfig) -> Self {
        let retry = RetryPolicy {
            max_attempts: config.max_attempts,
            base_backoff: config.base_backoff,
            max_wait: config.max_wait,
        };
        let cache = moka::future::Cache::builder()
            .max_capacity(config.max_entries)
            .expire_after(CredentialExpiry)
            .support_invalidation_closures()
            .build();
        Self {
            providers,
            config,
            retry,
            cache,
        }
    }

    /// Credentials for this request, from the cache or a fresh exchange.
    ///
    /// Fails with [`ExchangeError::Misconfigured`] when no provider serves the account's cloud
    /// or the identity was verified for another tenant, and otherwise as the provider does,
    /// after retrying transient failures.
    pub async fn credentials(
        &self,
        request: ExchangeRequest<'_>,
    ) -> Result<Arc<Credentials>, ExchangeError> {
        let provider = self.provider_for(&request)?;
        if request.identity.tenant != request.tenant.id {
            return Err(ExchangeError::Misconfigured {
                reason: "the identity was verified for another tenant".to_owned(),
                cloud_code: None,
            });
        }

        let exchange = async {
            let credentials = self
                .exchange(provider, request)
                .await
                .map_err(Uncached::Failed)?;
            Cached::new(
                Arc::new(credentials),
                request.identity.expires_at,
                self.config.expiry_margin,
            )
            .map_err(Uncached::ShortLived)
        };
        match self
            .cache
            .try_get_with(CacheKey::of(&request), exchange)
            .await
        {
            Ok(cached) => Ok(cached.credentials),
            Err(uncached) => uncached_result(uncached),
        }
    }

    /// Forgets every credential of tenant `tenant`.
    pub fn invalidate_tenant(&self, tenant: &str) {
        let tenant = tenant.to_owned();
        self.invalidate_if(move |key| key.tenant == tenant);
    }

    /// Forgets every credential for account `account` of tenant `tenant`.
    pub fn invalidate_account(&self, tenant: &str, account: &str) {
        let (tenant, account) = (tenant.to_owned(), account.to_owned());
        self.invalidate_if(move |key| key.tenant == tenant && key.account == account);
    }

    /// Forgets every credential of the person `subject` of tenant `tenant`.
    pub fn invalidate_subject(&self, tenant: &str, subject: &str) {
        let (tenant, subject) = (tenant.to_owned(), subject.to_owned());
        self.invalidate_if(move |key| key.tenant == tenant && key.subject == subject);
    }

    /// How many credentials are cached. Approximate: expired and invalidated entries are
    /// counted until the cache's housekeeping removes them.
    pub fn cached(&self) -> u64 {
        self.cache.entry_count()
    }

    fn provider_for(&self, request: &ExchangeRequest<'_>) -> Result<&dyn Provider, ExchangeError> {
        let kind = request.account.provider();
        self.providers
            .iter()
            .find(|provider| provider.kind() == kind)
            .map(|provider| provider.as_ref())
            .ok_or_else(|| ExchangeError::Misconfigured {
                reason: format!("no {kind} provider is configured"),
                cloud_code: None,
            })
    }

    /// One exchange, with retries, in its own span.
    async fn exchange(
        &self,
        provider: &dyn Provider,
        request: ExchangeRequest<'_>,
    ) -> Result<Credentials, ExchangeError> {
        let span = tracing::info_span!(
            "exchange",
            tenant.id = %request.tenant.id,
            account.id = %request.account.id(),
            provider = %provider.kind(),
            attempt = tracing::field::Empty,
        );
        let attempts = async {
            let mut attempt = 1;
            loop {
                tracing::Span::current().record("attempt", attempt);
                let error = match provider.exchange(request).await {
                    Ok(credentials) => {
                        tracing::debug!(attempt, "credentials issued");
                        return Ok(credentials);
                    }
                    Err(error) => error,
                };
                match self.retry.next(attempt, &error) {
                    Next::RetryAfter(wait) => {
                        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                        tracing::debug!(attempt, wait_ms, %error, "exchange failed, retrying");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    Next::GiveUp => {
                        let cloud_code = error.cloud_code();
                        tracing::info!(attempt, cloud_code, %error, "exchange failed");
                        return Err(error);
                    }
                }
            }
        };
        attempts.instrument(span).await
    }

    fn invalidate_if(&self, predicate: impl Fn(&CacheKey) -> bool + Send + Sync + 'static) {
        if let Err(error) = self
            .cache
            .invalidate_entries_if(move |key, _| predicate(key))
        {
            // Unreachable: the cache is built with invalidation closures enabled.
            tracing::error!(%error, "credentials could not be invalidated");
        }
    }
}

impl fmt::Debug for Exchanger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let providers: Vec<_> = self.providers.iter().map(|p| p.kind()).collect();
        f.debug_struct("Exchanger")
            .field("providers", &providers)
            .field("config", &self.config)
            .field("cached", &self.cached())
            .finish()
    }
}

/// Why an exchange left nothing in the cache. Every caller merged into that exchange receives
/// it.
#[derive(Debug)]
enum Uncached {
    Failed(ExchangeError),
    /// Credentials too close to their expiry to keep, still good for this request.
    ShortLived(Arc<Credentials>),
}

fn uncached_result(uncached: Arc<Uncached>) -> Result<Arc<Credentials>, ExchangeError> {
    let shared = match Arc::try_unwrap(uncached) {
        Ok(Uncached::Failed(error)) => return Err(error),
        Ok(Uncached::ShortLived(credentials)) => return Ok(credentials),
        Err(shared) => shared,
    };
    match &*shared {
        Uncached::ShortLived(credentials) => Ok(Arc::clone(credentials)),
        Uncached::Failed(error) => Err(copy_of(error, &shared)),
    }
}

/// A copy of an error that other merged callers share; its source is the original's.
fn copy_of(error: &ExchangeError, shared: &Arc<Uncached>) -> ExchangeError {
    match error {
        ExchangeError::TrustRefused {
            cloud_code,
            message,
        } => ExchangeError::TrustRefused {
            cloud_code: cloud_code.clone(),
            message: message.clone(),
        },
        ExchangeError::TokenRejected {
            cloud_code,
            message,
        } => ExchangeError::TokenRejected {
            cloud_code: cloud_code.clone(),
            message: message.clone(),
        },
        ExchangeError::Throttled {
            retry_after,
            cloud_code,
            message,
        } => ExchangeError::Throttled {
            retry_after: *retry_after,
            cloud_code: cloud_code.clone(),
            message: message.clone(),
        },
        ExchangeError::Unavailable {
            cloud_code,
            message,
            transient,
            source,
        } => ExchangeError::Unavailable {
            cloud_code: cloud_code.clone(),
            message: message.clone(),
            transient: *transient,
            source: source
                .as_ref()
                .map(|_| Box::new(SharedSource(Arc::clone(shared))) as crate::BoxError),
        },
        ExchangeError::Misconfigured { reason, cloud_code } => ExchangeError::Misconfigured {
            reason: reason.clone(),
            cloud_code: cloud_code.clone(),
        },
    }
}

/// The source of a shared [`ExchangeError::Unavailable`], reading as the original source.
struct SharedSource(Arc<Uncached>);

impl SharedSource {
    fn original(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match &*self.0 {
            Uncached::Failed(ExchangeError::Unavailable {
                source: Some(source),
                ..
            }) => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl fmt::Display for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.original() {
            Some(source) => fmt::Display::fmt(source, f),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.original() {
            Some(source) => fmt::Debug::fmt(source, f),
            None => f.write_str("SharedSource"),
        }
    }
}

impl StdError for SharedSource {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.original().and_then(|source| source.source())
    }
}

#[cfg(test)]
mod tests;
