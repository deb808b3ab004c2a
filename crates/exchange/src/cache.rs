//! What the credential cache is keyed by and how long an entry lives.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;

use crate::{Credentials, ExchangeRequest};

/// Everything cached credentials depend on: the tenant, the account binding as it is now, and
/// the person (issuer and subject). Two users, two tenants or two versions of one binding
/// never share an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) tenant: String,
    pub(crate) account: String,
    /// SHA-256 of the account binding's JSON, so that an edited binding is exchanged anew.
    binding: [u8; 32],
    issuer: String,
    pub(crate) subject: String,
}

impl CacheKey {
    /// The key of `request`.
    pub(crate) fn of(request: &ExchangeRequest<'_>) -> Self {
        Self {
            tenant: request.tenant.id.clone(),
            account: request.account.id().to_owned(),
            binding: binding_fingerprint(request),
            issuer: request.tenant.oidc.issuer.clone(),
            subject: request.identity.subject.clone(),
        }
    }
}

fn binding_fingerprint(request: &ExchangeRequest<'_>) -> [u8; 32] {
    // Serializing plain strings cannot fail; should it ever, the debug text of the binding
    // still changes whenever the binding does.
    let json = serde_json::to_vec(request.account)
        .unwrap_or_else(|_| format!("{:?}", request.account).into_bytes());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &json);
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest.as_ref());
    bytes
}

/// A cache entry: the credentials and the moment they stop being handed out.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    pub(crate) credentials: Arc<Credentials>,
    keep_until: Instant,
}

impl Cached {
    /// An entry for `credentials`, or the credentials back when they are not worth keeping:
    /// they expire within `margin`, or the identity has already expired.
    pub(crate) fn new(
        credentials: Arc<Credentials>,
        identity_expires_at: SystemTime,
        margin: Duration,
    ) -> Result<Self, Arc<Credentials>> {
        let now = SystemTime::now();
        match cache_lifetime(credentials.expires_at(), identity_expires_at, margin, now) {
            Some(lifetime) => Ok(Self {
                credentials,
                keep_until: Instant::now() + lifetime,
            }),
            None => Err(credentials),
        }
    }
}

/// How long credentials may be handed out from the cache, from `now`: until `margin` before
/// they expire, and never past the expiry of the identity they were exchanged for. `None`
/// when that leaves no time at all.
pub(crate) fn cache_lifetime(
    credentials_expire_at: SystemTime,
    identity_expires_at: SystemTime,
    margin: Duration,
    now: SystemTime,
) -> Option<Duration> {
    let usable_until = credentials_expire_at.checked_sub(margin)?;
    let until = usable_until.min(identity_expires_at);
    until
        .duration_since(now)
        .ok()
        .filter(|left| !left.is_zero())
}

/// Gives each entry the lifetime [`Cached::new`] computed.
pub(crate) struct CredentialExpiry;

impl Expiry<CacheKey, Cached> for CredentialExpiry {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Cached,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(value.keep_until.saturating_duration_since(created_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000) + MINUTE * minutes as u32
    }

    #[test]
    fn credentials_are_kept_until_the_margin_before_they_expire() {
        let lifetime = cache_lifetime(at(60), at(120), MINUTE * 5, at(0));

        assert_eq!(lifetime, Some(MINUTE * 55));
    }

    #[test]
    fn credentials_never_outlive_the_identity_they_were_exchanged_for() {
        let lifetime = cache_lifetime(at(60), at(10), MINUTE * 5, at(0));

        assert_eq!(lifetime, Some(MINUTE * 10));
    }

    #[test]
    fn credentials_expiring_within_the_margin_are_not_kept() {
        assert_eq!(cache_lifetime(at(4), at(120), MINUTE * 5, at(0)), None);
        assert_eq!(cache_lifetime(at(5), at(120), MINUTE * 5, at(0)), None);
    }

    #[test]
    fn nothing_is_kept_for_an_identity_that_has_expired() {
        assert_eq!(cache_lifetime(at(60), at(0), MINUTE * 5, at(0)), None);
        assert_eq!(cache_lifetime(at(60), at(1), MINUTE * 5, at(2)), None);
    }

    #[test]
    fn a_margin_longer_than_the_epoch_offset_keeps_nothing() {
        let lifetime = cache_lifetime(
            SystemTime::UNIX_EPOCH + MINUTE,
            at(120),
            Duration::MAX,
            at(0),
        );

        assert_eq!(lifetime, None);
    }
}
