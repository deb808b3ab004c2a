//! What the conformance cases share: requests, the suite's exchanger, and checks.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use credless_registry::{Account, AwsAccount, AzureAccount, GcpAccount, Provider as ProviderKind};
use credless_session::{IdToken, Identity};

use super::{Behaviour, Harness};
use crate::{Credentials, ExchangeConfig, ExchangeError, ExchangeRequest, Exchanger};

/// How long before their expiry the suite's exchanger stops reusing credentials.
pub(super) const MARGIN: Duration = Duration::from_secs(300);
/// The longest any provider call may take: providers must time out by themselves.
const PATIENCE: Duration = Duration::from_secs(20);

/// The harness's identity for `subject`, checked to be usable by the cases.
pub(super) fn identity<H: Harness + ?Sized>(harness: &H, subject: &str) -> Identity {
    let identity = harness.identity(subject);
    assert_eq!(
        identity.tenant,
        harness.tenant().id,
        "the harness's identity is of its tenant"
    );
    assert_eq!(identity.subject, subject);
    assert!(
        identity.expires_at > SystemTime::now() + MARGIN,
        "the harness's identity must be valid for at least ten minutes"
    );
    identity
}

/// One call of the provider itself, with the harness's tenant and account.
pub(super) async fn exchange<H: Harness + ?Sized>(
    harness: &H,
    identity: &Identity,
) -> Result<Credentials, ExchangeError> {
    let (tenant, account) = (harness.tenant(), harness.account());
    let request = ExchangeRequest {
        tenant: &tenant,
        identity,
        account: &account,
    };
    within(harness.provider().exchange(request)).await
}

/// The suite's exchanger: three attempts, short backoff, the default margin.
pub(super) fn exchanger<H: Harness + ?Sized>(harness: &H) -> Exchanger {
    let config = ExchangeConfig {
        expiry_margin: MARGIN,
        max_attempts: 3,
        base_backoff: Duration::from_millis(10),
        max_entries: 1_000,
        max_wait: Duration::from_secs(2),
    };
    Exchanger::new(vec![harness.provider()], config)
}

pub(super) async fn through<H: Harness + ?Sized>(
    exchanger: &Exchanger,
    harness: &H,
    identity: &Identity,
) -> Result<Arc<Credentials>, ExchangeError> {
    let (tenant, account) = (harness.tenant(), harness.account());
    let request = ExchangeRequest {
        tenant: &tenant,
        identity,
        account: &account,
    };
    within(exchanger.credentials(request)).await
}

pub(super) async fn within<T>(call: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, call).await {
        Ok(outcome) => outcome,
        Err(_) => panic!("no answer within {PATIENCE:?}: the provider needs a client timeout"),
    }
}

pub(super) fn assert_cloud_answer_kept<H: Harness + ?Sized>(
    harness: &H,
    behaviour: &Behaviour,
    error: &ExchangeError,
    identity: &Identity,
) {
    let Some(code) = harness.error_code(behaviour) else {
        panic!("the harness must name the code the fake cloud sends for {behaviour:?}");
    };
    assert_eq!(
        error.cloud_code(),
        Some(code.as_str()),
        "the cloud's code is kept"
    );
    assert!(
        error
            .cloud_message()
            .is_some_and(|message| !message.is_empty()),
        "the cloud's message is kept: {error:?}"
    );
    assert!(!error.is_transient(), "a refusal is not retried: {error:?}");
    let printed = format!("{error} {error:?}");
    assert!(
        !printed.contains(identity.id_token.expose()),
        "the error shows the ID token"
    );
}

pub(super) fn kind_of(credentials: &Credentials) -> ProviderKind {
    match credentials {
        Credentials::Aws(_) => ProviderKind::Aws,
        Credentials::Azure(_) => ProviderKind::Azure,
        Credentials::Gcp(_) => ProviderKind::Gcp,
    }
}

pub(super) fn secrets(credentials: &Credentials) -> Vec<&str> {
    match credentials {
        Credentials::Aws(aws) => vec![aws.secret_access_key.expose(), aws.session_token.expose()],
        Credentials::Azure(token) | Credentials::Gcp(token) => vec![token.token.expose()],
    }
}

/// The same token with its signature reversed: well formed, signed by nobody.
pub(super) fn forged(token: &IdToken) -> IdToken {
    let token = token.expose();
    let (signed, signature) = token.rsplit_once('.').unwrap_or((token, ""));
    let reversed: String = signature.chars().rev().collect();
    IdToken::new(format!("{signed}.{reversed}"))
}

/// An account of a cloud other than `kind`.
pub(super) fn foreign(kind: ProviderKind) -> Account {
    let (id, display_name, allowed_groups) = ("elsewhere".to_owned(), None, Vec::new());
    match kind {
        ProviderKind::Aws => Account::Gcp(GcpAccount {
            id,
            display_name,
            allowed_groups,
            project_id: "acme-data".to_owned(),
            project_number: "123456789".to_owned(),
            pool_id: "credless".to_owned(),
            provider_id: "acme-idp".to_owned(),
            service_account: "credless@acme-data.iam.gserviceaccount.com".to_owned(),
            region: "europe-west1".to_owned(),
        }),
        ProviderKind::Azure => Account::Aws(AwsAccount {
            id,
            display_name,
            allowed_groups,
            role_arn: "arn:aws:iam::123456789012:role/credless".to_owned(),
            region: "us-east-1".to_owned(),
        }),
        ProviderKind::Gcp => Account::Azure(AzureAccount {
            id,
            display_name,
            allowed_groups,
            tenant_id: "00000000-0000-0000-0000-000000000001".to_owned(),
            client_id: "00000000-0000-0000-0000-000000000002".to_owned(),
            subscription_id: "00000000-0000-0000-0000-000000000003".to_owned(),
            resource_group: "dev".to_owned(),
            region: "westeurope".to_owned(),
        }),
    }
}
