//! Signing keys of each issuer: discovery, the JWKS cache, refetch on an unknown `kid`.
//!
//! Keys come only from `<configured issuer>/.well-known/openid-configuration` and the
//! `jwks_uri` it names; nothing in a token decides where keys are fetched from. A fetch that
//! fails keeps the last good keys. Concurrent lookups that need a fetch share one, and refetches
//! after the first fetch happen at most once per `refetch_interval` per issuer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tracing::Instrument;

use crate::SessionError;
use crate::outbound::{check_upstream, is_refused_address};

/// Keys older than this are refetched on their next use, so that keys an IdP withdrew stop
/// being trusted; a failed refresh keeps them.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
/// Issuers whose keys are kept at once.
const MAX_ISSUERS: u64 = 10_000;

/// One verification key, with what it may verify.
pub(crate) struct VerifyKey {
    kid: Option<String>,
    kind: KeyKind,
    alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl VerifyKey {
    /// Whether a token signed with `alg` may be checked with this key: the algorithm must
    /// belong to the key's type, and equal the key's own `alg` when it names one.
    pub(crate) fn allows(&self, alg: Algorithm) -> bool {
        use Algorithm::*;
        let fits_type = match self.kind {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::P256 => alg == ES256,
            KeyKind::P384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        };
        fits_type && self.alg.is_none_or(|own| own == alg)
    }
}

/// The signing keys of every issuer seen, fetched on demand.
pub(crate) struct KeyStore {
    http: reqwest::Client,
    allow_insecure: bool,
    refetch_interval: Duration,
    issuers: moka::future::Cache<String, Arc<IssuerKeys>>,
}

/// The keys of one issuer and the bookkeeping of their fetches.
#[derive(Default)]
struct IssuerKeys {
    current: RwLock<Option<Arc<KeySet>>>,
    /// Completed fetch attempts, successful or not; lets waiters see that one happened.
    attempts: AtomicU64,
    /// Held while fetching, so that concurrent lookups share one fetch.
    fetching: tokio::sync::Mutex<FetchTimes>,
}

/// When fetches last happened, for rate limiting.
#[derive(Default)]
struct FetchTimes {
    /// The last fetch made because a `kid` was missing from fresh keys.
    refetch: Option<Instant>,
    /// The last fetch that failed.
    failure: Option<Instant>,
}

struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
    fetched_at: Instant,
}

impl KeySet {
    /// The key named `kid`; a token without `kid` may use the only key of a one-key set.
    fn find(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid))
                .cloned(),
            None if self.keys.len() == 1 => self.keys.first().cloned(),
            None => None,
        }
    }
}

impl IssuerKeys {
    fn snapshot(&self) -> Option<Arc<KeySet>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn replace(&self, set: KeySet) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(set.into());
    }
}

impl KeyStore {
    pub(crate) fn new(http: reqwest::Client, allow_insecure: bool, refetch: Duration) -> Self {
        Self {
            http,
            allow_insecure,
            refetch_interval: refetch,
            issuers: moka::future::Cache::builder()
                .max_capacity(MAX_ISSUERS)
                .time_to_idle(Duration::from_secs(24 * 3600))
                .build(),
        }
    }

    /// The issuer's key for `kid`, fetching the key set when it is missing, stale or lacks
    /// the `kid` (once, subject to the refetch interval).
    ///
    /// Fails with [`SessionError::TokenInvalid`] when no such key exists, or with
    /// [`SessionError::IdpUnavailable`] / [`SessionError::InsecureUpstream`] when keys cannot
    /// be fetched and none are cached.
    pub(crate) async fn key(
        &self,
        issuer: &str,
        kid: Option<&str>,
    ) -> Result<Arc<VerifyKey>, SessionError> {
        let entry = self
            .issuers
            .get_with_by_ref(issuer, async { Arc::default() })
            .await;
        let seen = entry.snapshot();
        if let Some(set) = &seen
            && set.fetched_at.elapsed() < KEYS_MAX_AGE
            && let Some(key) = set.find(kid)
        {
            return Ok(key);
        }
        let attempts_seen = entry.attempts.load(Ordering::Acquire);

        let mut times = entry.fetching.lock().await;
        let someone_else_fetched = entry.attempts.load(Ordering::Acquire) != attempts_seen;
        let recent =
            |at: Option<Instant>| at.is_some_and(|at| at.elapsed() < self.refetch_interval);
        // Missing or stale keys are fetched unless a fetch just failed; a missing `kid` in
        // fresh keys also waits for the interval since the last such refetch.
        let is_refetch = seen
            .as_ref()
            .is_some_and(|set| set.fetched_at.elapsed() < KEYS_MAX_AGE);
        let rate_limited = recent(times.failure) || (is_refetch && recent(times.refetch));
        let mut failure = None;
        if !someone_else_fetched && !rate_limited {
            if is_refetch {
                times.refetch = Some(Instant::now());
            }
            match self.fetch(issuer).await {
                Ok(set) => entry.replace(set),
                Err(error) => {
                    tracing::warn!(oidc.issuer = issuer, %error, "could not fetch signing keys");
                    times.failure = Some(Instant::now());
                    failure = Some(error);
                }
            }
            entry.attempts.fetch_add(1, Ordering::AcqRel);
        }
        drop(times);

        match (entry.snapshot(), failure) {
            (Some(set), _) => set
                .find(kid)
                .ok_or(SessionError::token("unknown signing key")),
            (None, Some(error)) => Err(error),
            (None, None) => Err(SessionError::idp(
                "the signing keys could not be fetched",
                None,
            )),
        }
    }

    /// Discovery, then the key set it names.
    async fn fetch(&self, issuer: &str) -> Result<KeySet, SessionError> {
        let span = tracing::info_span!("jwks_fetch", oidc.issuer = issuer);
        async {
            check_upstream(issuer, self.allow_insecure)?;
            let discovery_url = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let discovery: Discovery =
                serde_json::from_slice(&self.document(&discovery_url).await?)
                    .map_err(|_| SessionError::idp("the discovery document is malformed", None))?;
            if discovery.issuer != issuer {
                return Err(SessionError::idp(
                    "the discovery document names another issuer",
                    None,
                ));
            }

            let jwks_url = check_upstream(&discovery.jwks_uri, self.allow_insecure)?;
            let keys = parse_key_set(&self.document(jwks_url.as_str()).await?)?;
            tracing::debug!(keys = keys.len(), "fetched signing keys");
            Ok(KeySet {
                keys,
                fetched_at: Instant::now(),
            })
        }
        .instrument(span)
        .await
    }

    async fn document(&self, url: &str) -> Result<Vec<u8>, SessionError> {
        let failed = |error: reqwest::Error| {
            if is_refused_address(&error) {
                SessionError::InsecureUpstream {
                    reason: "the IdP resolves to an internal address",
                }
            } else {
                SessionError::idp("the IdP could not be reached", Some(error))
            }
        };
        let mut response = self.http.get(url).send().await.map_err(failed)?;
        if response.status() != reqwest::StatusCode::OK {
            tracing::debug!(
                http.status = response.status().as_u16(),
                "IdP refused a fetch"
            );
            return Err(SessionError::idp(
                "the IdP answered with an error status",
                None,
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(SessionError::idp("an IdP document is too large", None));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Parses a JWKS, keeping only public signature keys of the supported types.
///
/// Symmetric (`oct`) keys, encryption keys, keys whose `alg` is not a supported signature
/// algorithm and keys this crate cannot read are dropped, one by one; a document that is not
/// a key set at all fails with [`SessionError::IdpUnavailable`].
fn parse_key_set(body: &[u8]) -> Result<Vec<Arc<VerifyKey>>, SessionError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(body)
        .map_err(|_| SessionError::idp("the key set is malformed", None))?;
    Ok(raw
        .keys
        .into_iter()
        .filter_map(verify_key)
        .map(Arc::new)
        .collect())
}

fn verify_key(value: serde_json::Value) -> Option<VerifyKey> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    if matches!(jwk.common.public_key_use, Some(ref usage) if *usage != PublicKeyUse::Signature) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(key_alg) => Some(signature_algorithm(key_alg)?),
    };
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyKind::P256,
            EllipticCurve::P384 => KeyKind::P384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            KeyKind::Ed25519
        }
        // Symmetric keys would turn the issuer's published secret into an HMAC key.
        AlgorithmParameters::OctetKeyPair(_) | AlgorithmParameters::OctetKey(_) => return None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(VerifyKey {
        kid: jwk.common.key_id,
        kind,
        alg,
        key,
    })
}

/// The asymmetric signature algorithm a JWK's `alg` names, if it names one.
fn signature_algorithm(key_alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match key_alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
