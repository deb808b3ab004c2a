//! From a signed-in person to a Compute Engine call made as that person, through gcp_auth's
//! `TokenProvider`.
//!
//! The session layer verifies the person's ID token (here through `SessionValidator` directly).
//! `FederatedTokenProvider` trades it through Workload Identity Federation: Google's Security
//! Token Service turns it into a federated token of the organisation's workload identity pool,
//! and the IAM Credentials API turns that into a short-lived access token of a service account
//! the person may impersonate. It implements `gcp_auth::TokenProvider`, the trait Google client
//! crates take, and keeps each token until a minute before it expires. Here the token is sent
//! by hand, as a client would, to list the project's VMs.
//!
//! Google's STS and IAM Credentials API, Compute Engine, the identity provider and the
//! oauth2-proxy are the testkit's fakes, so this runs anywhere:
//! `cargo run --example gcp_token_provider`.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on the terminal"
)]

use std::time::Duration;

use credless::gcp::{FederatedTokenProvider, GcpConfig, GcpProvider, subject_member};
use credless::registry::{GcpAccount, Oidc, Tenant};
use credless::session::{Identity, SessionConfig, SessionValidator};
use credless_testkit::gce::FakeGce;
use credless_testkit::gcp::{FakeGcp, PoolProvider};
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use gcp_auth::TokenProvider as _;
use http::HeaderMap;

/// Any error of the example, shown by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The scope Compute Engine calls need.
const COMPUTE_SCOPE: &str = "https://www.googleapis.com/auth/compute";
/// The service account people act as.
const SERVICE_ACCOUNT: &str = "credless@acme-data.iam.gserviceaccount.com";

/// What the example found out.
#[derive(Debug)]
struct Outcome {
    /// The project `FederatedTokenProvider::project_id` reported.
    project: String,
    /// Whether asking twice gave the same token (the second came from its cache).
    reused: bool,
    /// How many service account tokens Google issued.
    tokens_issued: usize,
    /// Whether Compute Engine received exactly the token Google issued, as a bearer token.
    bearer_matches: bool,
    /// The VMs Compute Engine listed, as `zone/name`.
    vms: Vec<String>,
}

/// Jane signs in; her verified identity is what Credless's session layer would hand you.
async fn signed_in_identity(proxy: &OAuth2Proxy, tenant: &Tenant) -> Result<Identity, Error> {
    let validator = SessionValidator::new(SessionConfig {
        allow_insecure_upstreams: true, // the fakes are plain http on loopback
        ..SessionConfig::default()
    })?;
    let cookies = proxy.sign_in(User::new("user-jane", "jane@acme.example"));
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        OAuth2Proxy::cookie_header(&cookies).parse()?,
    );
    let validated = validator.validate(tenant, &headers).await?;
    Ok(validated.identity.as_ref().clone())
}

async fn run() -> Result<Outcome, Error> {
    let (idp, google, compute) =
        tokio::join!(OidcProvider::start(), FakeGcp::start(), FakeGce::start());
    let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;
    let audience = proxy.options().client_id.clone();

    // What Credless knows: the tenant and the GCP account binding its people may use.
    let tenant = Tenant {
        id: "acme".to_owned(),
        admin_email: "ops@acme.example".to_owned(),
        hostnames: Vec::new(),
        proxy_url: proxy.url(),
        cookie_name: proxy.options().cookie_name.clone(),
        oidc: Oidc {
            issuer: idp.issuer(),
            audiences: vec![audience.clone()],
        },
        admin_groups: Vec::new(),
    };
    let account = GcpAccount {
        id: "data-gcp".to_owned(),
        display_name: None,
        allowed_groups: Vec::new(),
        project_id: "acme-data".to_owned(),
        project_number: "123456789".to_owned(),
        pool_id: "credless".to_owned(),
        provider_id: "acme-idp".to_owned(),
        service_account: SERVICE_ACCOUNT.to_owned(),
        region: "europe-west1".to_owned(),
    };

    // What a GCP administrator sets up once (`credless::gcp::trust_guidance` writes the gcloud
    // commands): a workload identity pool provider trusting the issuer for Credless's client
    // id, and the person's right to impersonate the service account. One VM exists already.
    google.add_provider(PoolProvider::new(
        &account.project_number,
        &account.pool_id,
        &account.provider_id,
        &idp.issuer(),
        [audience],
    ));
    google.grant_workload_identity_user(SERVICE_ACCOUNT, &subject_member(&account, "user-jane"));
    compute.put_vm("acme-data", "europe-west1-b", "etl-01", &[("team", "data")]);

    // One provider per process; in production `GcpConfig::default()` talks to Google.
    // The token provider is per person: never share one between people.
    let provider = GcpProvider::new(GcpConfig {
        sts_endpoint: google.uri(),
        iam_credentials_endpoint: google.uri(),
        allow_insecure_upstreams: true,
        ..GcpConfig::default()
    })?;
    let identity = signed_in_identity(&proxy, &tenant).await?;
    let tokens = FederatedTokenProvider::new(provider, &identity, account);

    // What a Google client crate does before each call: ask its token provider.
    let token = tokens.token(&[COMPUTE_SCOPE]).await?;
    let again = tokens.token(&[COMPUTE_SCOPE]).await?;
    let project = tokens.project_id().await?;

    let url = format!(
        "{}/compute/v1/projects/{project}/aggregated/instances",
        compute.uri()
    );
    let listed: serde_json::Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(token.as_str())
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut vms = Vec::new();
    for (scope, found) in listed["items"].as_object().into_iter().flatten() {
        for vm in found["instances"].as_array().into_iter().flatten() {
            let name = vm["name"].as_str().unwrap_or_default();
            vms.push(format!("{}/{name}", scope.trim_start_matches("zones/")));
        }
    }

    // The fake Compute Engine accepts any bearer token; check it got the one Google issued.
    let expected = format!("Bearer {}", token.as_str());
    let seen = compute.requests();
    let bearer_matches = !seen.is_empty()
        && seen
            .iter()
            .all(|request| request.request.header("authorization") == Some(expected.as_str()));
    Ok(Outcome {
        project: project.to_string(),
        reused: token.as_str() == again.as_str(),
        tokens_issued: google.exchanges().tokens_issued,
        bearer_matches,
        vms,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let outcome = run().await?;
    println!("project:  {}", outcome.project);
    println!(
        "tokens issued: {} (second request served from the cache: {})",
        outcome.tokens_issued, outcome.reused
    );
    println!(
        "VMs: {:?} (listed with that token: {})",
        outcome.vms, outcome.bearer_matches
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn compute_engine_is_called_with_the_service_account_token() {
        let outcome = run().await.expect("the example runs");

        assert_eq!(outcome.project, "acme-data");
        assert!(outcome.reused);
        assert_eq!(outcome.tokens_issued, 1);
        assert!(outcome.bearer_matches);
        assert_eq!(outcome.vms, ["europe-west1-b/etl-01"]);
    }
}
